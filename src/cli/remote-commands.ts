/**
 * The commands that talk to a server, all through the typed client (`switchyard/client`):
 * `run`, `runs list | show | tail | cancel | rerun | approve | reject`, `schedules list | set |
 * delete`. The server is `--url` (else SWITCHYARD_URL, else http://localhost:3000) and the
 * credential `--key` (else SWITCHYARD_KEY). A refusal of the server ends with exit 1 and its
 * message; a server that cannot be reached or cannot serve now with exit 69.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createClient, SwitchyardError, type Client } from '../client/index.js';
import { loadCliEnv } from '../config/cli-env.js';
import { ConfigError } from '../errors/index.js';
import { readYaml, type YamlSource } from '../lang/yaml-source.js';
import type { RunStatus } from '../model/run.js';
import { CliError, EXIT, jsonFlag, usageError } from './exit.js';
import { follow } from './follow.js';
import type { GlobalOptions, Io } from './io.js';
import { runText, runsTable, schedulesTable } from './tables.js';

interface Context {
  client: Client;
  url: string;
  json: boolean;
  io: Io;
}

/** The server's answer to a request that is not a success, or a server out of reach, as the CLI ends on it. */
export function remoteFailure(err: unknown, url: string, yaml?: YamlSource): CliError | undefined {
  if (err instanceof SwitchyardError) {
    // A workflow sent from a YAML file that the server refused: each problem where it is in the file.
    if (yaml && err.status === 422 && err.issues.length > 0)
      return new CliError(
        yaml
          .located(err.issues)
          .map((i) => i.message)
          .join('; '),
        EXIT.failed,
      );
    const issues = err.issues.map((i) => `${i.path ? `${i.path}: ` : ''}${i.message}`);
    const hint = err.status === 401 ? ' (pass --key or set SWITCHYARD_KEY)' : '';
    const detail = issues.length > 0 && !issues.every((i) => err.message.includes(i)) ? ` (${issues.join('; ')})` : '';
    const message = `${url} answered ${err.status} ${err.code}: ${err.message}${detail}${hint}`;
    return new CliError(message, err.status === 503 ? EXIT.unavailable : EXIT.failed);
  }
  // fetch() could not talk to the server at all (refused, unknown host, reset, timed out).
  if (err instanceof TypeError && err.message === 'fetch failed') {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return new CliError(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? 'the connection failed'}`, EXIT.unavailable);
  }
  return undefined;
}

/** `--input '{...}'` or `--input @file.json`: a JSON object. */
function inputFlag(flag: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let source = text;
  if (text.startsWith('@')) {
    try {
      source = readFileSync(text.slice(1), 'utf8');
    } catch (err) {
      throw usageError(flag, `cannot read ${text.slice(1)}: ${(err as Error).message}`);
    }
  }
  const value = jsonFlag(flag, source);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw usageError(flag, 'must be a JSON object, e.g. \'{"topic": "queues"}\'');
  return value as Record<string, unknown>;
}

/** The context of a command: its client, from the global flags over the environment. */
function contextOf(command: Command, io: Io): Context {
  const opts = command.optsWithGlobals<GlobalOptions>();
  let env: ReturnType<typeof loadCliEnv>;
  try {
    env = loadCliEnv(io.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
  const url = opts.url ?? env.url;
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url)) throw usageError('--url', `"${url}" is not an http(s) URL`);
  const key = opts.key ?? env.key;
  return { client: createClient({ url, ...(key ? { key } : {}) }), url, json: opts.json === true, io };
}

type Action = (ctx: Context, ...args: never[]) => Promise<number>;

/** Wrap an action: build its context, turn the server's refusals into exit codes. */
function remote(io: Io, done: (code: number) => void, action: Action) {
  return async function (this: Command, ...args: unknown[]): Promise<void> {
    const ctx = contextOf(this, io);
    try {
      done(await (action as (ctx: Context, ...a: unknown[]) => Promise<number>)(ctx, ...args));
    } catch (err) {
      throw remoteFailure(err, ctx.url) ?? err;
    }
  };
}

const print = (ctx: Context, value: unknown, text: string): number => {
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(value, null, 2)}\n` : text);
  return EXIT.ok;
};

/** `run <workflow|file.yaml>`: a name is a workflow the server has; a file is sent inline. */
async function runAction(ctx: Context, target: string, o: { input?: string; wait?: boolean; idempotencyKey?: string }): Promise<number> {
  const input = inputFlag('--input', o.input) ?? {};
  const isFile = /\.ya?ml$/i.test(target) || existsSync(target);
  let yaml: YamlSource | undefined;
  if (isFile) {
    try {
      yaml = readYaml(readFileSync(target, 'utf8'), target);
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message, EXIT.failed);
      throw new CliError(`${target}: cannot read: ${(err as Error).message}`, EXIT.failed);
    }
  }
  const workflow = yaml ? (yaml.value as Record<string, unknown>) : target;
  let answer: Awaited<ReturnType<Client['runs']['create']>>;
  try {
    answer = await ctx.client.runs.create({ workflow, input, ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}) });
  } catch (err) {
    throw remoteFailure(err, ctx.url, yaml) ?? err;
  }
  if (!o.wait) return print(ctx, answer, `${answer.id}\n`);
  if (!ctx.json) ctx.io.stderr.write(`${answer.id} ${answer.status}: ${target} (follow it elsewhere: switchyard runs tail ${answer.id})\n`);
  return follow(ctx.client, answer.id, ctx.io, { json: ctx.json });
}

export function addRemoteCommands(program: Command, io: Io, done: (code: number) => void): void {
  program
    .command('run')
    .description('start a run of a workflow (by name, or a YAML file sent inline); --wait follows it to its end (exit 0 succeeded, 1 not)')
    .argument('<workflow|file.yaml>')
    .option('--input <json>', "the run's input: a JSON object, or @file.json")
    .option('--wait', 'show each step as it changes, then the output; exit 0 when it succeeded, 1 when it failed, was cancelled or over budget')
    .option('--idempotency-key <key>', 'the same key and request give the same run')
    .action(remote(io, done, runAction));

  const runs = program.command('runs').description('list, show, follow, cancel, rerun and decide runs');
  runs
    .command('list')
    .description('runs, newest first')
    .option('--status <status>', 'only runs with this status')
    .option('--workflow <name>', 'only runs of this workflow')
    .option('--agent <name>', 'only runs that use this agent')
    .option('--limit <n>', 'at most n runs (1-200, default 20)')
    .option('--cursor <cursor>', 'the next page (as the previous page names it)')
    .action(
      remote(io, done, async (ctx, o: { status?: string; workflow?: string; agent?: string; limit?: string; cursor?: string }) => {
        const limit = o.limit === undefined ? undefined : Number(o.limit);
        if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 200)) throw usageError('--limit', 'a whole number from 1 to 200');
        const page = await ctx.client.runs.list({
          ...(o.status ? { status: o.status as RunStatus } : {}),
          ...(o.workflow ? { workflow: o.workflow } : {}),
          ...(o.agent ? { agent: o.agent } : {}),
          ...(limit ? { limit } : {}),
          ...(o.cursor ? { cursor: o.cursor } : {}),
        });
        if (!ctx.json && page.nextCursor) ctx.io.stderr.write(`more: switchyard runs list --cursor ${page.nextCursor}\n`);
        return print(ctx, page, runsTable(page));
      }),
    );
  runs
    .command('show')
    .description('a run: status, usage, each step (why it waits, how it failed), the output')
    .argument('<id>')
    .action(
      remote(io, done, async (ctx, id: string) => {
        const run = await ctx.client.runs.get(id);
        return print(ctx, run, runText(run));
      }),
    );
  runs
    .command('tail')
    .description('follow a run to its end (its events from the first; --json: one event per line); exit 0 succeeded, 1 not')
    .argument('<id>')
    .action(remote(io, done, (ctx, id: string) => follow(ctx.client, id, ctx.io, { json: ctx.json })));
  runs
    .command('cancel')
    .argument('<id>')
    .description('cancel a run that has not finished')
    .action(remote(io, done, async (ctx, id: string) => print(ctx, await ctx.client.runs.cancel(id), `${id} cancelled\n`)));
  runs
    .command('rerun')
    .argument('<id>')
    .description('a new run from a step of a finished one (that step and what depends on it run again)')
    .option('--from <step>', 'the step to run again from (default: the first failed step, else the first step)')
    .option('--input <json>', "a new input (a JSON object, or @file.json); default: the run's own")
    .option('--feedback <text>', 'given to the step with its previous answer')
    .option('--wait', 'follow the new run to its end, as run --wait')
    .action(
      remote(io, done, async (ctx, id: string, o: { from?: string; input?: string; feedback?: string; wait?: boolean }) => {
        const input = inputFlag('--input', o.input);
        let fromStep = o.from;
        if (!fromStep) {
          const run = await ctx.client.runs.get(id);
          fromStep = run.failedSteps[0]?.stepId ?? run.steps[0]?.stepId;
          if (!fromStep) throw new CliError(`run ${id} has no step to rerun from`, EXIT.failed);
        }
        const answer = await ctx.client.runs.rerun(id, { fromStep, ...(input ? { input } : {}), ...(o.feedback ? { feedback: o.feedback } : {}) });
        if (!o.wait) return print(ctx, answer, `${answer.id}\n`);
        if (!ctx.json) ctx.io.stderr.write(`${answer.id} ${answer.status}: rerun of ${id} from ${fromStep}\n`);
        return follow(ctx.client, answer.id, ctx.io, { json: ctx.json });
      }),
    );
  for (const approve of [true, false]) {
    runs
      .command(approve ? 'approve' : 'reject')
      .argument('<id>')
      .argument('<step>', 'the approval gate')
      .description(approve ? 'approve a gate that waits' : 'reject a gate that waits (its onReject applies)')
      .option('--comment <text>', 'why (kept with the decision)')
      .option('--by <who>', 'who decides (default: the server says "api")')
      .action(
        remote(io, done, async (ctx, id: string, step: string, o: { comment?: string; by?: string }) => {
          const decide = approve ? ctx.client.approvals.approve : ctx.client.approvals.reject;
          const answer = await decide(id, step, { ...(o.comment ? { comment: o.comment } : {}), ...(o.by ? { by: o.by } : {}) });
          return print(ctx, answer, `${approve ? 'approved' : 'rejected'} ${step} of ${id} (by ${answer.decision.by})\n`);
        }),
      );
  }
  addScheduleCommands(program, io, done);
}

function addScheduleCommands(program: Command, io: Io, done: (code: number) => void): void {
  const schedules = program.command('schedules').description('cron schedules of workflows');
  schedules
    .command('list')
    .description('every schedule, from flows/ and from the API')
    .action(
      remote(io, done, async (ctx) => {
        const list = await ctx.client.schedules.list();
        return print(ctx, { schedules: list }, schedulesTable(list));
      }),
    );
  schedules
    .command('set')
    .argument('<id>')
    .description('create or replace a schedule')
    .requiredOption('--workflow <name>', 'the workflow it runs')
    .requiredOption('--cron <pattern>', 'e.g. "0 9 * * 1" (Mondays at 09:00)')
    .option('--tz <zone>', 'the time zone of the pattern (default UTC)')
    .option('--input <json>', "the runs' input: a JSON object, or @file.json")
    .action(
      remote(io, done, async (ctx, id: string, o: { workflow: string; cron: string; tz?: string; input?: string }) => {
        const input = inputFlag('--input', o.input);
        const s = await ctx.client.schedules.set(id, { workflow: o.workflow, cron: o.cron, ...(o.tz ? { tz: o.tz } : {}), ...(input ? { input } : {}) });
        return print(ctx, s, `${s.id}: ${s.workflow} at "${s.cron}" (${s.tz}), next ${s.next ?? 'never'}\n`);
      }),
    );
  schedules
    .command('delete')
    .argument('<id>')
    .description('delete a schedule set through the API')
    .action(
      remote(io, done, async (ctx, id: string) => {
        await ctx.client.schedules.delete(id);
        return print(ctx, { deleted: id }, `${id} deleted\n`);
      }),
    );
}
