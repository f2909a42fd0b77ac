/**
 * Following a run to its end through the client's event stream (`run --wait`, `rerun --wait`,
 * `runs tail`): live step lines on stderr, then the run's ending, and its output on stdout.
 * The exit code says how it ended: 0 succeeded (or partial_success: only optional steps
 * failed), 1 failed, cancelled or budget_exceeded.
 */
import type { Client, Run } from '../client/index.js';
import { EXIT } from './exit.js';
import { LiveView } from './live-view.js';
import { formatCost, formatElapsed } from './progress.js';
import type { Io } from './io.js';

const SUCCESS: readonly string[] = ['succeeded', 'partial_success'];

/** The run's output as the user reads it: text as it is, anything else as indented JSON. */
export const outputText = (output: unknown): string => (typeof output === 'string' ? output : JSON.stringify(output, null, 2));

/** `succeeded in 1.24s · 4 steps · 812 tokens · $0.0031` */
export function endingLine(run: Run): string {
  const took = run.finishedAt ? ` in ${formatElapsed(Date.parse(run.finishedAt) - Date.parse(run.startedAt ?? run.createdAt))}` : '';
  const tokens = run.usage.inputTokens + run.usage.outputTokens;
  const parts = [
    `${run.status}${took}`,
    `${run.steps.length} step${run.steps.length === 1 ? '' : 's'}`,
    `${tokens} tokens`,
    formatCost(run.usage.costUsd ?? 0),
  ];
  return parts.join(' · ');
}

/**
 * Follow run `id` until it finishes. Text: step lines and the ending on stderr, the output on
 * stdout. JSON (`json`): each event as one line of JSON on stdout, and nothing else.
 */
export async function follow(client: Client, id: string, io: Io, opts: { json: boolean; signal?: AbortSignal }): Promise<number> {
  if (opts.json) {
    let status: string | undefined;
    for await (const event of client.runs.events(id, opts.signal ? { signal: opts.signal } : {})) {
      io.stdout.write(`${JSON.stringify(event)}\n`);
      if (event.type === 'run.finished') status = String(event.data.status);
    }
    status ??= (await client.runs.get(id)).status;
    return SUCCESS.includes(status) ? EXIT.ok : EXIT.failed;
  }
  const before = await client.runs.get(id);
  const view = new LiveView(
    id,
    io.stderr,
    before.steps.map((s) => s.stepId),
  );
  try {
    for await (const event of client.runs.events(id, opts.signal ? { signal: opts.signal } : {})) view.apply(event);
  } finally {
    view.close();
  }
  const run = await client.runs.get(id);
  io.stderr.write(`${endingLine(run)}\n`);
  for (const f of run.failedSteps) io.stderr.write(`  ${f.stepId}: ${f.error}\n`);
  if (run.error && run.failedSteps.length === 0) io.stderr.write(`  ${run.error}\n`);
  if (run.output !== null && run.output !== undefined) io.stdout.write(`${outputText(run.output)}\n`);
  return SUCCESS.includes(run.status) ? EXIT.ok : EXIT.failed;
}
