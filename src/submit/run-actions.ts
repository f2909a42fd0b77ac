/**
 * What a person does to a run once it is submitted: cancel it, decide a waiting approval gate,
 * give feedback on a step's result.
 */
import { ConflictError, NotFoundError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { RunControl } from '../flow/run-control.js';
import { finishRun } from '../flow/finish-run.js';
import { stepJobId, stepQueueName } from '../store/keys.js';
import { whileReachable } from '../store/reachable.js';
import type { RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import type { GateDecision } from '../store/scripts/index.js';
import { isTerminalRun, type StepFeedback } from '../model/run.js';

export interface RunActionsDeps {
  store: Pick<RunStore, 'redis' | 'records' | 'gates' | 'endings'>;
  control: RunControl;
  logger: Logger;
}

export class RunActions {
  constructor(private readonly deps: RunActionsDeps) {}

  async cancel(scope: Scope, runId: string): Promise<{ id: string; status: string }> {
    const res = await whileReachable(this.deps.store.redis, 'the cancel', () =>
      finishRun(this.deps, scope, runId, { how: 'halt', status: 'cancelled', reason: 'run cancelled' }),
    );
    if (res.status === 'missing') throw new NotFoundError(`run "${runId}" not found`);
    if (!res.applied) throw new ConflictError(`run "${runId}" already finished with status ${res.status}`);
    return { id: runId, status: 'cancelled' };
  }

  /** Feedback on a finished step's result (seed 002's TaskFeedback); the last one given stands. */
  async feedback(
    scope: Scope,
    runId: string,
    stepId: string,
    f: { rating: number; useful?: boolean | undefined; comment?: string | undefined },
  ): Promise<{ runId: string; stepId: string; feedback: StepFeedback }> {
    const { store } = this.deps;
    const feedback: StepFeedback = {
      rating: f.rating,
      ...(f.useful !== undefined ? { useful: f.useful } : {}),
      ...(f.comment !== undefined ? { comment: f.comment } : {}),
      at: new Date().toISOString(),
    };
    const res = await whileReachable(store.redis, 'the feedback', () => store.gates.feedback(scope, runId, stepId, feedback));
    if (res.result === 'missing')
      throw new NotFoundError(`run "${runId}" not found (feedback is taken while a run is kept in Redis: SWITCHYARD_RETENTION_SECONDS)`);
    if (res.result === 'no_step') throw new NotFoundError(`run "${runId}" has no step "${stepId}"`);
    if (res.result === 'not_finished')
      throw new ConflictError(`step "${stepId}" has not finished (it is ${res.status}); give feedback on its result once it has one`);
    return { runId, stepId, feedback };
  }

  /**
   * Approve or reject the approval gate `stepId` of `runId`, or the tool calls its agent step
   * waits on, which must be waiting for a decision: the decision is recorded (with who and
   * why), and the step's job woken.
   */
  async decide(
    scope: Scope,
    runId: string,
    stepId: string,
    d: { approved: boolean; by?: string | undefined; comment?: string | undefined },
  ): Promise<{ runId: string; stepId: string; decision: GateDecision }> {
    const { store } = this.deps;
    const decision: GateDecision = { approved: d.approved, by: d.by ?? 'api', comment: d.comment ?? null, at: new Date().toISOString() };
    const res = await whileReachable(store.redis, 'the decision', () => store.gates.decide(scope, runId, stepId, decision));
    if (!res.applied) {
      if (res.why === 'missing') {
        const status = await whileReachable(store.redis, 'reading the run', () => store.records.status(scope, runId));
        if (status === null) throw new NotFoundError(`run "${runId}" not found`);
        // A finished run keeps its steps in one record (compacted): none waits any more.
        if (isTerminalRun(status)) throw new ConflictError(`run "${runId}" already finished with status ${status}`);
        throw new NotFoundError(`run "${runId}" has no step "${stepId}"`);
      }
      if (res.why === 'not_a_gate') throw new ConflictError(`step "${stepId}" is not an approval gate, nor an agent step whose tool calls wait for approval`);
      if (res.why === 'decided') {
        // Nudge it anyway: an earlier wake may have come while the gate was still parking.
        await this.wakeGate(runId, stepId, res.agent);
        throw new ConflictError(`step "${stepId}" is already decided; it goes on with that decision`);
      }
      if (res.why === 'revising') throw new ConflictError(`step "${stepId}" waits for the revision it asked for; decide once it is done`);
      throw new ConflictError(`step "${stepId}" is not waiting for approval (it is ${res.why})`);
    }
    await this.wakeGate(runId, stepId, res.agent);
    return { runId, stepId, decision };
  }

  /**
   * Wake a waiting step's job now (it sleeps in the delayed set of its queue: the control queue
   * for a gate, its agent's for an agent step). Should this fail, a repeated decision wakes it, or its deadline does.
   */
  private async wakeGate(runId: string, stepId: string, agent: string | undefined): Promise<void> {
    try {
      await this.deps.control.wake(stepQueueName({ agent }), stepJobId(runId, stepId));
    } catch (err) {
      this.deps.logger.warn({ runId, stepId, err: (err as Error).message }, 'decision recorded, but the gate could not be woken at once');
    }
  }
}
