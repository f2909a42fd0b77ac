/**
 * Statistics over the runs a workspace created in a time window (GET /v1/stats): seed 001's
 * totals (registered agents; runs total, completed, failed, in progress; success rate) and
 * seed 002's performance per agent (steps, success rate, latency p50/p95, tokens, cost, the
 * average rating of the feedback given, memo hits: results reused by a rerun, response cache
 * hits, what they saved and the hit rate: seed 002's cacheHitRate), per workflow,
 * and trends in time buckets. Pure: computed from run and step records.
 */
import { isTerminalRun, type RunRecord, type StepRecord } from '../model/run.js';

export interface StatsWindow {
  since: number;
  until: number;
  bucketMs: number;
}

const quantile = (sorted: readonly number[], q: number): number | null =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : null;
const rate = (good: number, bad: number): number | null => (good + bad > 0 ? good / (good + bad) : null);

interface AgentAcc {
  steps: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  latencies: number[];
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  ratings: number[];
  useful: number;
  memoHits: number;
  cacheHits: number;
  costSavedUsd: number;
  models: Set<string>;
}

interface WorkflowAcc {
  runs: number;
  completed: number;
  failed: number;
  costUsd: number;
  durations: number[];
}

interface BucketAcc {
  runs: number;
  completed: number;
  failed: number;
  steps: number;
  tokens: number;
  costUsd: number;
}

const newAgent = (): AgentAcc => ({
  steps: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  latencies: [],
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  ratings: [],
  useful: 0,
  memoHits: 0,
  cacheHits: 0,
  costSavedUsd: 0,
  models: new Set(),
});

const round = (n: number) => Math.round(n * 1e9) / 1e9;

export function computeStats(
  runs: readonly { run: RunRecord; steps: readonly StepRecord[] }[],
  w: StatsWindow,
  opts: { agents: readonly string[]; agent?: string | undefined },
) {
  const count = { total: 0, succeeded: 0, partialSuccess: 0, failed: 0, cancelled: 0, budgetExceeded: 0, inProgress: 0 };
  const agents = new Map<string, AgentAcc>();
  const workflows = new Map<string, WorkflowAcc>();
  const buckets = new Map<number, BucketAcc>();
  const bucketOf = (iso: string) => {
    const start = w.since + Math.floor((Date.parse(iso) - w.since) / w.bucketMs) * w.bucketMs;
    let b = buckets.get(start);
    if (!b) buckets.set(start, (b = { runs: 0, completed: 0, failed: 0, steps: 0, tokens: 0, costUsd: 0 }));
    return b;
  };
  for (const { run, steps } of runs) {
    countRun(count, run);
    const completed = run.status === 'succeeded' || run.status === 'partial_success';
    const b = bucketOf(run.createdAt);
    b.runs++;
    if (completed) b.completed++;
    if (run.status === 'failed') b.failed++;
    const wf = workflows.get(run.workflow) ?? { runs: 0, completed: 0, failed: 0, costUsd: 0, durations: [] };
    workflows.set(run.workflow, wf);
    wf.runs++;
    if (completed) wf.completed++;
    if (run.status === 'failed') wf.failed++;
    wf.costUsd += run.usage.costUsd ?? 0;
    if (run.startedAt && run.finishedAt) wf.durations.push(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
    for (const s of steps) {
      if (!s.agent || (opts.agent && s.agent !== opts.agent)) continue;
      let a = agents.get(s.agent);
      if (!a) agents.set(s.agent, (a = newAgent()));
      tallyStep(a, b, s);
    }
  }
  const byName = <T, V>(m: Map<string, T>, view: (acc: T) => V) =>
    Object.fromEntries([...m].sort(([x], [y]) => x.localeCompare(y)).map(([name, acc]) => [name, view(acc)]));
  return {
    since: new Date(w.since).toISOString(),
    until: new Date(w.until).toISOString(),
    registeredAgents: opts.agents.length,
    agentNames: [...opts.agents],
    runs: {
      ...count,
      completed: count.succeeded + count.partialSuccess,
      successRate: rate(count.succeeded + count.partialSuccess, count.failed + count.budgetExceeded),
    },
    agents: byName(agents, agentView),
    workflows: byName(workflows, workflowView),
    trend: {
      bucketMs: w.bucketMs,
      buckets: [...buckets].sort(([x], [y]) => x - y).map(([start, b]) => ({ start: new Date(start).toISOString(), ...b, costUsd: round(b.costUsd) })),
    },
  };
}

function countRun(
  count: Record<'total' | 'succeeded' | 'partialSuccess' | 'failed' | 'cancelled' | 'budgetExceeded' | 'inProgress', number>,
  run: RunRecord,
): void {
  count.total++;
  if (run.status === 'succeeded') count.succeeded++;
  else if (run.status === 'partial_success') count.partialSuccess++;
  else if (run.status === 'failed') count.failed++;
  else if (run.status === 'cancelled') count.cancelled++;
  else if (run.status === 'budget_exceeded') count.budgetExceeded++;
  else if (!isTerminalRun(run.status)) count.inProgress++;
}

/** A step of agent `a`, created in bucket `b`. */
function tallyStep(a: AgentAcc, b: BucketAcc, s: StepRecord): void {
  a.steps++;
  b.steps++;
  if (s.status === 'succeeded') a.succeeded++;
  else if (s.status === 'failed') a.failed++;
  else if (s.status === 'cancelled') a.cancelled++;
  if (s.status === 'succeeded' && s.startedAt && s.finishedAt && !s.reusedFrom) a.latencies.push(Date.parse(s.finishedAt) - Date.parse(s.startedAt));
  if (s.usage) {
    a.inputTokens += s.usage.inputTokens;
    a.outputTokens += s.usage.outputTokens;
    a.costUsd += s.usage.costUsd ?? 0;
    b.tokens += s.usage.inputTokens + s.usage.outputTokens;
    b.costUsd += s.usage.costUsd ?? 0;
  }
  if (s.feedback) {
    a.ratings.push(s.feedback.rating);
    if (s.feedback.useful) a.useful++;
  }
  if (s.reusedFrom) a.memoHits++;
  if (s.cached) a.cacheHits++;
  a.costSavedUsd += s.usage?.costSavedUsd ?? 0;
  if (s.model) a.models.add(s.model);
}

function agentView(a: AgentAcc) {
  const lat = [...a.latencies].sort((x, y) => x - y);
  return {
    steps: a.steps,
    succeeded: a.succeeded,
    failed: a.failed,
    cancelled: a.cancelled,
    successRate: rate(a.succeeded, a.failed),
    latencyMs: { p50: quantile(lat, 0.5), p95: quantile(lat, 0.95) },
    tokens: { input: a.inputTokens, output: a.outputTokens },
    costUsd: round(a.costUsd),
    rating: {
      average: a.ratings.length ? round(a.ratings.reduce((x, y) => x + y, 0) / a.ratings.length) : null,
      count: a.ratings.length,
      useful: a.useful,
    },
    memoHits: a.memoHits,
    cache: { hits: a.cacheHits, costSavedUsd: round(a.costSavedUsd) },
    cacheHitRate: rate(a.cacheHits, Math.max(0, a.succeeded - a.memoHits - a.cacheHits)),
    models: [...a.models].sort(),
  };
}

function workflowView(wf: WorkflowAcc) {
  const d = [...wf.durations].sort((x, y) => x - y);
  return {
    runs: wf.runs,
    completed: wf.completed,
    failed: wf.failed,
    successRate: rate(wf.completed, wf.failed),
    costUsd: round(wf.costUsd),
    durationMs: { p50: quantile(d, 0.5), p95: quantile(d, 0.95) },
  };
}
