/**
 * API keys from a shell (the same store as the admin API, POST/GET/DELETE /v1/keys), as
 * `switchyard keys ...` and `npm run keys -- ...`:
 *
 *   npm run keys -- create --workspace acme --scopes runs:write,runs:read [--expires 30d] [--name ci]
 *                          [--max-cost-usd-per-day 5] [--max-tokens-per-day 200000]
 *   npm run keys -- list [--workspace acme]
 *   npm run keys -- revoke <key id>
 *
 * `create` prints the key alone on its last line (shown once: only its hash is stored). It
 * reads the server's environment (REDIS_URL, SWITCHYARD_PREFIX). Exit code 0 when done, 1 when
 * the key to revoke does not exist, 2 on bad usage or configuration.
 */
import { parseArgs } from 'node:util';
import { ApiKeys, KeyId, parseDuration } from '../auth/api-keys.js';
import { AuditLog } from '../audit/audit-log.js';
import { CredentialWorkspace, parseScopes } from '../auth/principal.js';
import { loadConfig } from '../config/env.js';
import { NotFoundError } from '../errors/index.js';
import { cellOf } from '../store/scope.js';
import { connectRedis, redisTarget } from '../store/connection.js';
import { Envelope } from '../model/envelope.js';

const usage = (command: string) => `usage:
  ${command} create --workspace <id> --scopes <scope,scope> [--expires 30d] [--name <label>]
      [--max-cost-usd-per-day <usd>] [--max-tokens-per-day <n>]
  ${command} list [--workspace <id>]
  ${command} revoke <key id>`;

class UsageError extends Error {}

/** The key's spend envelope from --max-cost-usd-per-day and --max-tokens-per-day (none: neither given). */
function envelopeFlags(cost: string | undefined, tokens: string | undefined): Envelope | undefined {
  if (cost === undefined && tokens === undefined) return undefined;
  const number = (text: string) => (text.trim() === '' ? NaN : Number(text));
  const parsed = Envelope.safeParse({
    ...(cost !== undefined ? { maxCostUsdPerDay: number(cost) } : {}),
    ...(tokens !== undefined ? { maxTokensPerDay: number(tokens) } : {}),
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const flag = issue?.path[0] === 'maxCostUsdPerDay' ? `--max-cost-usd-per-day "${cost}"` : `--max-tokens-per-day "${tokens}"`;
  throw new UsageError(`${flag}: ${issue?.code === 'invalid_type' ? 'must be a number' : issue?.message}`);
}

const describeEnvelope = (e: Envelope): string =>
  [e.maxCostUsdPerDay !== undefined ? `$${e.maxCostUsdPerDay} a day` : '', e.maxTokensPerDay !== undefined ? `${e.maxTokensPerDay} tokens a day` : '']
    .filter(Boolean)
    .join(' and ');

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workspace: { type: 'string' },
      scopes: { type: 'string' },
      expires: { type: 'string' },
      name: { type: 'string' },
      'max-cost-usd-per-day': { type: 'string' },
      'max-tokens-per-day': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (command === 'create' && rest.length === 0) {
    if (!values.workspace || !values.scopes) throw new UsageError('create needs --workspace and --scopes');
    const workspace = CredentialWorkspace.safeParse(values.workspace);
    if (!workspace.success) throw new UsageError(`--workspace "${values.workspace}": ${workspace.error.issues[0]?.message}`);
    const scopes = parseScopes(values.scopes);
    if (scopes.length === 0) throw new UsageError('--scopes names no scope');
    const expiresMs = values.expires === undefined ? undefined : parseDuration(values.expires);
    const envelope = envelopeFlags(values['max-cost-usd-per-day'], values['max-tokens-per-day']);
    return { command, workspace: workspace.data, scopes, expiresMs, name: values.name, envelope } as const;
  }
  if (command === 'list' && rest.length === 0) return { command, workspace: values.workspace } as const;
  if (command === 'revoke' && rest.length === 1) {
    if (!KeyId.safeParse(rest[0]).success) throw new UsageError(`"${rest[0]}" is not a key id (12 lowercase letters and digits, as \`keys list\` shows)`);
    return { command, id: rest[0]! } as const;
  }
  throw new UsageError(command ? `unknown or incomplete command "${command}"` : 'no command');
}

/**
 * Run one keys command (`args` after `keys`); its exit code. `command` is how the user typed it,
 * for the usage text. Throws what it cannot handle (Redis unreachable, bad configuration).
 */
export async function keysCommand(args: string[], command = 'npm run keys --'): Promise<number> {
  let cmd: ReturnType<typeof parse>;
  try {
    cmd = parse(args);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage(command)}\n`);
    return 2;
  }
  const config = loadConfig();
  const redis = connectRedis(redisTarget(config), { maxRetriesPerRequest: 1, connectionName: 'switchyard-keys-cli' });
  const cell = cellOf(config.prefix);
  const keys = new ApiKeys({ redis, cell });
  const audit = new AuditLog({ redis, cell, retentionSeconds: config.retentionSeconds, outbox: config.mongodbUri !== undefined });
  const actor = { kind: 'cli', id: process.env.USER ?? 'cli' };
  try {
    if (cmd.command === 'create') {
      const expiresAt = cmd.expiresMs === undefined ? undefined : new Date(Date.now() + cmd.expiresMs);
      const { key, view } = await keys.create({
        workspace: cmd.workspace,
        scopes: cmd.scopes,
        ...(expiresAt ? { expiresAt } : {}),
        ...(cmd.name ? { name: cmd.name } : {}),
        ...(cmd.envelope ? { envelope: cmd.envelope } : {}),
      });
      await audit.record({
        action: 'key.created',
        workspace: view.workspace,
        actor,
        target: view.id,
        details: { scopes: view.scopes, ...(view.envelope ? { envelope: view.envelope } : {}) },
      });
      const spends = view.envelope ? `, may spend ${describeEnvelope(view.envelope)}` : '';
      process.stdout.write(
        `created key ${view.id} for workspace ${view.workspace} (${view.scopes.join(', ')})${view.expiresAt ? `, expires ${view.expiresAt}` : ''}${spends}\n`,
      );
      process.stdout.write('it is shown only now; store it safely:\n');
      process.stdout.write(`${key}\n`);
    } else if (cmd.command === 'list') {
      process.stdout.write(`${JSON.stringify({ keys: await keys.list(cmd.workspace) }, null, 2)}\n`);
    } else {
      const view = await keys.revoke(cmd.id);
      await audit.record({ action: 'key.revoked', workspace: view.workspace, actor, target: view.id });
      process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  } finally {
    await redis.quit();
  }
}
