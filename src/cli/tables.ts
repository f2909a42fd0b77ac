/**
 * What `runs list`, `runs show` and `schedules list` print as text: aligned columns a person
 * reads (scripts take `--json`, the API's answer as it is).
 */
import type { Run, RunPage, Schedule } from '../client/index.js';
import { outputText } from './follow.js';
import { formatCost, formatElapsed } from './progress.js';

/** Rows of cells as aligned columns, the first row a header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const took = (from: string | null, to: string | null): string => (from && to ? formatElapsed(Date.parse(to) - Date.parse(from)) : '');
const when = (iso: string | null): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const tokensOf = (u: { inputTokens: number; outputTokens: number } | null): string => (u ? String(u.inputTokens + u.outputTokens) : '');

export function runsTable(page: RunPage): string {
  const rows = page.runs.map((r) => [
    r.id,
    r.status,
    r.workflow,
    when(r.createdAt),
    took(r.startedAt ?? r.createdAt, r.finishedAt),
    tokensOf(r.usage),
    formatCost(r.usage.costUsd ?? 0),
  ]);
  return table([['ID', 'STATUS', 'WORKFLOW', 'CREATED', 'TOOK', 'TOKENS', 'COST'], ...rows]);
}

/** Why a step waits, in words (the run's view says it as `waitingFor`). */
function waitingText(w: Run['steps'][number]['waitingFor']): string {
  if (!w) return '';
  const until = 'until' in w && w.until ? ` until ${when(w.until)}` : '';
  switch (w.reason) {
    case 'dependencies':
    case 'children':
      return `waits for ${w.steps.join(', ')}`;
    case 'approval':
      return `waits for approval${w.deadline ? ` (deadline ${when(w.deadline)})` : ''}`;
    case 'provider_capacity':
      return `held by ${w.detail}${until}`;
    case 'no_worker':
      return `no worker serves ${w.queue}: start one (switchyard workers --agents ${w.agent ?? '<agent>'})`;
    default:
      return `${w.reason.replace(/_/g, ' ')}${until}`;
  }
}

/** What a run spent: its total once finished, the sum of its steps' until then. */
function usageOf(run: Run): { inputTokens: number; outputTokens: number; costUsd?: number | undefined } {
  if (run.finishedAt) return run.usage;
  const used = run.steps.flatMap((s) => (s.usage ? [s.usage] : []));
  return {
    inputTokens: used.reduce((n, u) => n + u.inputTokens, 0),
    outputTokens: used.reduce((n, u) => n + u.outputTokens, 0),
    costUsd: used.reduce((n, u) => n + (u.costUsd ?? 0), 0),
  };
}

export function runText(run: Run): string {
  const usage = usageOf(run);
  const head = [
    `run       ${run.id}${run.rerunOf ? ` (rerun of ${run.rerunOf})` : ''}`,
    `workflow  ${run.workflow}`,
    `status    ${run.status}${run.error ? `: ${run.error}` : ''}`,
    `created   ${when(run.createdAt)}${run.finishedAt ? `, took ${took(run.startedAt ?? run.createdAt, run.finishedAt)}` : ''}`,
    `usage     ${usage.inputTokens + usage.outputTokens} tokens (${usage.inputTokens} in, ${usage.outputTokens} out), ${formatCost(usage.costUsd ?? 0)}${run.budget ? ` of a budget ${JSON.stringify(run.budget)}` : ''}${run.finishedAt ? '' : ' so far'}`,
  ].join('\n');
  const steps = table([
    ['STEP', 'STATUS', 'TOOK', 'TOKENS', 'COST', 'MODEL', ''],
    ...run.steps.map((s) => [
      s.stepId,
      s.status,
      took(s.startedAt, s.finishedAt),
      tokensOf(s.usage),
      s.usage ? formatCost(s.usage.costUsd ?? 0) : '',
      s.model ?? '',
      s.error ?? s.reason ?? waitingText(s.waitingFor),
    ]),
  ]);
  const output = run.output === null || run.output === undefined ? '' : `\noutput:\n${outputText(run.output)}\n`;
  return `${head}\n\n${steps}${output}`;
}

export function schedulesTable(schedules: readonly Schedule[]): string {
  if (schedules.length === 0) return 'no schedules (set one with `switchyard schedules set`, or `schedule:` in a workflow of flows/)\n';
  return table([['ID', 'WORKFLOW', 'CRON', 'TZ', 'NEXT', 'SOURCE'], ...schedules.map((s) => [s.id, s.workflow, s.cron, s.tz, when(s.next), s.source])]);
}
