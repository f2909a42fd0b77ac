/**
 * The execute phase: one segment of a step's work, by its kind's executor, under an
 * AbortSignal that fires on the step's timeout and on cancellation of the run. It returns what
 * the work came to (an outcome, or the error it threw) for `settle` to judge; an error that may
 * mean its run ended comes with the run's and the step's status read.
 */
import { StepTimeoutError, toError } from '../errors/index.js';
import type { AgentRegistry } from '../agents/registry.js';
import type { StepExecutor } from '../kinds/executor.js';
import type { StepKind } from '../kinds/definition.js';
import { isTerminalRun, isTerminalStep } from '../model/run.js';
import type { Cancel } from './active-jobs.js';
import type { Delivery } from './delivery.js';
import { mayHaveEnded, type WorkError, type WorkResult } from './settle.js';
import { StepContext } from './step-context.js';

/** Run one segment of the step's work. */
export async function execute(d: Delivery): Promise<WorkResult> {
  const { step, deps } = d;
  d.segmentStart = Date.now();
  // A rerun's step upstream of where it reruns: its recorded output, no work done.
  if (step.reuse) {
    const { output, input, runId } = step.reuse;
    return { outcome: { type: 'succeeded', output, input: input ?? null, reusedFrom: runId, event: { reused: { runId } } } };
  }
  // The agents of the step's workspace as they are now (one read when it has its own: see
  // workspace-agents-watch.ts); an agent deleted meanwhile fails the step, naming it.
  let agents: AgentRegistry;
  let timeoutMs: number;
  try {
    agents = d.agents = await deps.agentsFor(d.scope, step);
    timeoutMs = deps.policy.timeoutMs(step, agents);
  } catch (raw) {
    return { error: toError(raw), aborted: d.cancelled !== undefined };
  }
  // One controller: fires on the step timeout, or when the step's run (or the step) is cancelled.
  const call = new AbortController();
  const timer = setTimeout(() => call.abort(new StepTimeoutError(timeoutMs)), timeoutMs);
  if (d.cancelled) call.abort(d.cancelled.reason);
  const untrack = deps.active.track(d.scope, d.runId, d.job.id!, cancellation(d, call));
  try {
    return { outcome: await (deps.executors[step.kind] as StepExecutor<StepKind>).execute(step, new StepContext(d, agents, call.signal, timeoutMs)) };
  } catch (raw) {
    const error = toError(raw);
    const aborted = d.cancelled !== undefined;
    return { error, aborted, ...(mayHaveEnded(error, aborted) ? await endedState(d) : {}) };
  } finally {
    clearTimeout(timer);
    untrack();
  }
}

/** How ActiveJobs cancels the segment that `call` runs: the delivery is marked cancelled (for its later segments too), and its signal fires. */
function cancellation(d: Delivery, call: AbortController): Cancel {
  return (reason) => {
    d.cancelled ??= { reason };
    call.abort(d.cancelled.reason);
  };
}

/** Whether its run has ended (or is gone) or the step itself has: the step's status then. */
async function endedState(d: Delivery): Promise<Pick<WorkError, 'ended'>> {
  const { store } = d.deps;
  const [status, self] = await Promise.all([store.records.status(d.scope, d.runId), store.steps.state(d.scope, d.runId, d.step.id)]);
  const ended = status === null || isTerminalRun(status) || self === null || isTerminalStep(self.status);
  return ended ? { ended: { stepStatus: self?.status ?? 'missing' } } : {};
}
