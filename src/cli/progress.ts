/**
 * A run's progress as the CLI shows it, built from its event stream alone: one line per step
 * (status, elapsed, tokens, cost, and why it waits or how it failed), in the order the steps
 * first appear. Pure: times come from the events (`at`) and from the `now` a caller passes.
 */
import type { RunEvent, RunStatus, StepStatus } from '../model/run.js';

export interface StepProgress {
  stepId: string;
  status: StepStatus;
  attempt: number;
  /** When its first attempt started (ms since the epoch). */
  startedAt?: number;
  /** When it ended (ms), and how long its work took as the worker measured it. */
  endedAt?: number;
  durationMs?: number;
  tokens?: number;
  costUsd?: number;
  model?: string;
  /** Characters streamed so far by the running attempt. */
  chars?: number;
  /** Why it waits, what it retries after, or the error or reason it ended with. */
  note?: string;
}

export interface RunEnding {
  status: RunStatus;
  error: string | null;
  at: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const clock = (iso: string | undefined): string => (iso ? new Date(iso).toISOString().slice(11, 19) : '');
const moment = (iso: string | undefined): string => (iso ? `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')}Z` : '');

export class RunProgress {
  private readonly steps = new Map<string, StepProgress>();
  private readonly seen = new Set<string>();
  startedAt: number | undefined;
  ending: RunEnding | undefined;

  constructor(readonly runId: string) {}

  /** A step known before its events (from the run's record), so that lines keep the workflow's order. */
  seed(stepId: string): void {
    this.step(stepId);
  }

  list(): StepProgress[] {
    return [...this.steps.values()];
  }

  /** Apply one event; the step whose line changed, if one did (an event seen before changes nothing). */
  apply(event: RunEvent): StepProgress | undefined {
    // A streaming step's text (live only, without an id): its length comes in step.progress.
    if (event.type === 'step.delta') return undefined;
    if (this.seen.has(event.id)) return undefined;
    this.seen.add(event.id);
    const at = Date.parse(event.at);
    const data = record(event.data);
    if (event.type === 'run.queued' || event.type === 'run.started') this.startedAt ??= at;
    if (event.type === 'run.finished') {
      this.ending = { status: data.status as RunStatus, error: str(data.error) ?? null, at };
      return undefined;
    }
    if (!event.stepId) return undefined;
    const step = this.step(event.stepId);
    return applyToStep(step, event.type, data, at) ? step : undefined;
  }

  private step(stepId: string): StepProgress {
    let step = this.steps.get(stepId);
    if (!step) {
      step = { stepId, status: 'pending', attempt: 0 };
      this.steps.set(stepId, step);
    }
    return step;
  }

  /** Totals over the steps that reported usage. */
  totals(): { tokens: number; costUsd: number } {
    let tokens = 0;
    let costUsd = 0;
    for (const s of this.steps.values()) {
      tokens += s.tokens ?? 0;
      costUsd += s.costUsd ?? 0;
    }
    return { tokens, costUsd };
  }
}

/** Whether the event changed the step's line. */
function applyToStep(step: StepProgress, type: RunEvent['type'], data: Record<string, unknown>, at: number): boolean {
  switch (type) {
    case 'step.added':
      step.note = str(data.parent) ? `added by ${String(data.parent)}` : undefined;
      return true;
    case 'step.started':
      step.status = 'running';
      step.attempt = num(data.attempt) ?? step.attempt + 1;
      step.startedAt ??= at;
      step.chars = undefined;
      step.note = data.recovered === true ? 'recovered from a lost worker' : step.attempt > 1 ? `attempt ${step.attempt}` : undefined;
      return true;
    case 'step.waiting':
      step.status = 'waiting';
      // A gate says why it waits (`waiting for approval (...)`) and until when; a step that added steps, nothing.
      step.note = str(data.reason) ? `${str(data.reason)}${str(data.until) ? `, until ${moment(str(data.until))}` : ''}` : 'waiting for the steps it added';
      return true;
    case 'step.resumed':
      step.status = 'running';
      step.note = undefined;
      return true;
    case 'step.approved':
    case 'step.rejected':
      step.note = `${type === 'step.approved' ? 'approved' : 'rejected'} by ${str(data.by) ?? '?'}${str(data.comment) ? `: ${str(data.comment)}` : ''}`;
      return true;
    case 'step.progress':
      step.chars = num(data.chars) ?? step.chars;
      if (num(data.turn) !== undefined) step.note = `turn ${num(data.turn)}`;
      return false; // a running step's detail: shown on a redrawn screen, never as a line of its own
    case 'step.retrying':
      step.status = 'retrying';
      step.note = retryNote(data);
      return true;
    case 'step.completed': {
      step.status = 'succeeded';
      const usage = record(data.usage);
      const tokens = (num(usage.inputTokens) ?? 0) + (num(usage.outputTokens) ?? 0);
      if (data.usage !== undefined && data.usage !== null) {
        step.tokens = tokens;
        step.costUsd = num(usage.costUsd) ?? 0;
      }
      step.model = str(data.model) ?? step.model;
      step.durationMs = num(data.durationMs);
      step.endedAt = at;
      step.note = record(data.reused).runId ? `reused from ${String(record(data.reused).runId)}` : undefined;
      return true;
    }
    case 'step.failed':
      step.status = 'failed';
      step.endedAt = at;
      step.note = str(data.error);
      return true;
    case 'step.skipped':
    case 'step.cancelled':
      step.status = type === 'step.skipped' ? 'skipped' : 'cancelled';
      step.endedAt = at;
      step.note = str(data.reason);
      return true;
    default:
      return false;
  }
}

function retryNote(data: Record<string, unknown>): string {
  if (data.reason === 'rate_limited') return `rate limited, again in ${((num(data.retryAfterMs) ?? 0) / 1000).toFixed(1)} s`;
  if (data.reason === 'capacity') return `held by ${str(data.detail) ?? 'a limit'} until ${clock(str(data.retryAt))}`;
  return `attempt ${num(data.attempt) ?? '?'} failed (${str(data.error) ?? 'error'}), again at ${clock(str(data.retryAt))}`;
}

/** Seconds, short: `0.06s`, `12.3s`, `4m05s`. */
export function formatElapsed(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export const formatCost = (usd: number): string => `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;

/** A step's elapsed time: its own duration once ended, else from its start to `now` (none without a `now`). */
export function elapsedOf(step: StepProgress, now: number | undefined): number | undefined {
  if (step.startedAt === undefined) return undefined;
  if (step.endedAt !== undefined) return step.durationMs ?? step.endedAt - step.startedAt;
  return now === undefined ? undefined : now - step.startedAt;
}

const MARK: Record<StepStatus, string> = {
  pending: '·',
  running: '▶',
  waiting: '⏸',
  retrying: '↻',
  succeeded: '✓',
  failed: '✗',
  skipped: '-',
  cancelled: '⊘',
};

/** One step's line: `✓ analyse  succeeded  0.06s  230 tokens  $0.0012  <note>`. */
export function stepLine(step: StepProgress, now: number | undefined, width: number): string {
  const elapsed = elapsedOf(step, now);
  const parts = [
    `${MARK[step.status]} ${step.stepId.padEnd(width)}`,
    step.status.padEnd(9),
    (elapsed === undefined ? '' : formatElapsed(elapsed)).padStart(7),
    step.tokens === undefined ? '' : `${step.tokens} tokens`,
    step.costUsd === undefined ? '' : formatCost(step.costUsd),
    step.status === 'running' && step.chars ? `${step.chars} chars` : '',
    step.note ?? '',
  ];
  return parts
    .filter((p, i) => i < 3 || p !== '')
    .join('  ')
    .trimEnd();
}
