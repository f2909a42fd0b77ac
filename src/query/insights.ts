/**
 * Insights over the runs a workspace created in a window (GET /v1/insights): per agent (its
 * steps) and per workflow (its runs), success rate, average time, cost and rating, over the
 * window, in trend buckets and as a direction between the window's halves; the most common
 * failure reasons (failure-reasons.ts); and plain suggestions derived from them. Pure: computed
 * from run and step records, like stats.ts.
 */
import type { FailureReason, Insights, Suggestion } from '../model/insights.js';
import type { RunRecord, StepRecord } from '../model/run.js';
import { ADVICE, failureReason } from './failure-reasons.js';
import type { StatsWindow } from './stats.js';

/** Sums of one bucket, half or whole. */
interface Sums {
  count: number;
  succeeded: number;
  failed: number;
  ms: number;
  timed: number;
  costUsd: number;
  ratings: number;
  rated: number;
}

interface Acc {
  all: Sums;
  halves: [Sums, Sums];
  buckets: Map<number, Sums>;
  failures: Map<FailureReason, { count: number; example: string | null }>;
}

/** One step of an agent, or one run of a workflow. */
interface Item {
  at: number;
  ok: boolean | null;
  ms: number | null;
  costUsd: number;
  ratings: readonly number[];
  failure?: { reason: FailureReason; error: string | null };
}

const sums = (): Sums => ({ count: 0, succeeded: 0, failed: 0, ms: 0, timed: 0, costUsd: 0, ratings: 0, rated: 0 });
const acc = (): Acc => ({ all: sums(), halves: [sums(), sums()], buckets: new Map(), failures: new Map() });
const round = (n: number) => Math.round(n * 1e9) / 1e9;
const ratio = (x: number, n: number): number | null => (n > 0 ? round(x / n) : null);
const averageMs = (s: Sums): number | null => (s.timed > 0 ? Math.round(s.ms / s.timed) : null);
const successRate = (s: Sums) => ratio(s.succeeded, s.succeeded + s.failed);
const durationOf = (r: { startedAt: string | null; finishedAt: string | null }) =>
  r.startedAt && r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null;

function add(s: Sums, i: Item): void {
  s.count++;
  if (i.ok === true) s.succeeded++;
  if (i.ok === false) s.failed++;
  if (i.ms !== null) {
    s.ms += i.ms;
    s.timed++;
  }
  s.costUsd += i.costUsd;
  for (const r of i.ratings) {
    s.ratings += r;
    s.rated++;
  }
}

function tally(a: Acc, i: Item, w: StatsWindow): void {
  add(a.all, i);
  add(a.halves[i.at < (w.since + w.until) / 2 ? 0 : 1], i);
  const start = w.since + Math.floor((i.at - w.since) / w.bucketMs) * w.bucketMs;
  let b = a.buckets.get(start);
  if (!b) a.buckets.set(start, (b = sums()));
  add(b, i);
  if (i.failure) {
    const f = a.failures.get(i.failure.reason) ?? { count: 0, example: i.failure.error };
    f.count++;
    a.failures.set(i.failure.reason, f);
  }
}

/** Up, down or flat between two values, `tolerance` apart at least to count; relative when `relative`. */
function direction(x: number | null, y: number | null, tolerance: number, relative: boolean): 'up' | 'down' | 'flat' | null {
  if (x === null || y === null) return null;
  const d = relative ? (x === 0 ? (y === 0 ? 0 : 1) : (y - x) / x) : y - x;
  return d > tolerance ? 'up' : d < -tolerance ? 'down' : 'flat';
}

function view(a: Acc) {
  const [h1, h2] = a.halves;
  const failed = a.all.failed;
  return {
    count: a.all.count,
    succeeded: a.all.succeeded,
    failed,
    successRate: successRate(a.all),
    averageMs: averageMs(a.all),
    costUsd: round(a.all.costUsd),
    rating: { average: ratio(a.all.ratings, a.all.rated), count: a.all.rated },
    trends: {
      successRate: direction(successRate(h1), successRate(h2), 0.05, false),
      averageMs: direction(averageMs(h1), averageMs(h2), 0.1, true),
      costUsd: direction(ratio(h1.costUsd, h1.count), ratio(h2.costUsd, h2.count), 0.1, true),
      rating: direction(ratio(h1.ratings, h1.rated), ratio(h2.ratings, h2.rated), 0.25, false),
    },
    failures: [...a.failures]
      .sort(([x, fx], [y, fy]) => fy.count - fx.count || x.localeCompare(y))
      .map(([reason, f]) => ({ reason, count: f.count, share: ratio(f.count, failed), example: f.example })),
    buckets: [...a.buckets]
      .sort(([x], [y]) => x - y)
      .map(([start, b]) => ({
        start: new Date(start).toISOString(),
        count: b.count,
        succeeded: b.succeeded,
        failed: b.failed,
        successRate: successRate(b),
        averageMs: averageMs(b),
        costUsd: round(b.costUsd),
        rating: ratio(b.ratings, b.rated),
      })),
  };
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/**
 * Suggestions about one agent or workflow: each failure reason of at least a tenth of its steps
 * (or runs), a low rating (under 3 of 5 over 3 ratings or more), a success rate that fell
 * between the window's halves.
 */
function suggestionsOf(who: { agent: string } | { workflow: string }, v: ReturnType<typeof view>, unit: string): Suggestion[] {
  const name = 'agent' in who ? `agent ${who.agent}` : `workflow ${who.workflow}`;
  const out: Suggestion[] = [];
  for (const f of v.failures) {
    const share = f.count / v.count;
    if (share < 0.1) continue;
    const { what, advice } = ADVICE[f.reason];
    out.push({ ...who, reason: f.reason, share: round(share), text: `${name} fails ${pct(share)} of its ${unit} with ${what}: ${advice}` });
  }
  if (v.rating.average !== null && v.rating.count >= 3 && v.rating.average < 3)
    out.push({
      ...who,
      share: 1,
      text: `${name} is rated ${v.rating.average.toFixed(1)} of 5 over ${v.rating.count} ratings: revise its prompt (the feedback comments say what is missing)`,
    });
  if (v.trends.successRate === 'down')
    out.push({ ...who, share: round(1 - (v.successRate ?? 1)), text: `${name}'s success rate fell in the second half of the window: see its failures above` });
  return out;
}

export function computeInsights(runs: readonly { run: RunRecord; steps: readonly StepRecord[] }[], w: StatsWindow, opts: { agent?: string | undefined }) {
  const agents = new Map<string, Acc>();
  const workflows = new Map<string, Acc>();
  for (const { run, steps } of runs) {
    for (const s of steps) {
      if (!s.agent || (opts.agent && s.agent !== opts.agent)) continue;
      let a = agents.get(s.agent);
      if (!a) agents.set(s.agent, (a = acc()));
      tally(a, stepItem(s), w);
    }
    let wf = workflows.get(run.workflow);
    if (!wf) workflows.set(run.workflow, (wf = acc()));
    tally(wf, runItem(run, steps), w);
  }
  const named = (m: Map<string, Acc>) => [...m].sort(([x], [y]) => x.localeCompare(y)).map(([n, a]) => [n, view(a)] as const);
  const agentViews = named(agents);
  const workflowViews = named(workflows);
  const suggestions = [
    ...agentViews.flatMap(([agent, v]) => suggestionsOf({ agent }, v, 'calls')),
    // A single-agent task's workflow (`agent/<name>`) would repeat its agent's.
    ...workflowViews.flatMap(([workflow, v]) => (workflow.startsWith('agent/') ? [] : suggestionsOf({ workflow }, v, 'runs'))),
  ].sort((x, y) => y.share - x.share);
  return {
    since: new Date(w.since).toISOString(),
    until: new Date(w.until).toISOString(),
    bucketMs: w.bucketMs,
    agents: Object.fromEntries(agentViews),
    workflows: Object.fromEntries(workflowViews),
    suggestions,
  } satisfies Omit<Insights, 'scanned' | 'truncated'>;
}

function stepItem(s: StepRecord): Item {
  const ok = s.status === 'succeeded' ? true : s.status === 'failed' ? false : null;
  return {
    at: Date.parse(s.createdAt),
    ok,
    ms: s.reusedFrom || ok === null ? null : durationOf(s),
    costUsd: s.usage?.costUsd ?? 0,
    ratings: s.feedback ? [s.feedback.rating] : [],
    ...(ok === false ? { failure: { reason: failureReason(s), error: s.error } } : {}),
  };
}

function runItem(run: RunRecord, steps: readonly StepRecord[]): Item {
  const ok = run.status === 'succeeded' || run.status === 'partial_success' ? true : run.status === 'failed' || run.status === 'budget_exceeded' ? false : null;
  const first = run.failedSteps[0] && steps.find((s) => s.stepId === run.failedSteps[0]!.stepId);
  const reason: FailureReason = run.status === 'budget_exceeded' ? 'budget' : first ? failureReason(first) : 'other';
  return {
    at: Date.parse(run.createdAt),
    ok,
    ms: ok === null ? null : durationOf(run),
    costUsd: run.usage.costUsd ?? 0,
    ratings: steps.flatMap((s) => (s.feedback ? [s.feedback.rating] : [])),
    ...(ok === false ? { failure: { reason, error: first?.error ?? run.error } } : {}),
  };
}
