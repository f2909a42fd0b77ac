/**
 * What people add to a run: the decision on a waiting approval gate, and feedback on a finished
 * step's result (kept beside a compacted run, and sent to the outbox).
 */
import { keys } from './keys.js';
import type { RunRecords } from './records.js';
import type { Scope } from './scope.js';
import { gateDecide, stepFeedback, type GateDecideReply, type GateDecision, type StepFeedbackReply } from './scripts/index.js';
import type { StoreContext } from './store-context.js';
import type { StepFeedback } from '../model/run.js';

export class Gates {
  constructor(
    private readonly ctx: StoreContext,
    private readonly records: Pick<RunRecords, 'get'>,
  ) {}

  /** Record the decision on a waiting approval gate, once (the gate reads it when its job wakes). */
  decide(scope: Scope, runId: string, stepId: string, decision: GateDecision): Promise<GateDecideReply> {
    return gateDecide(this.ctx.redis, { scope, runId, stepId, decision });
  }

  /**
   * Record feedback on a finished step. A compacted run's step record is rebuilt with it for
   * the outbox here (its step hash is gone), awaited, so MongoDB gets it too.
   */
  async feedback(scope: Scope, runId: string, stepId: string, feedback: StepFeedback): Promise<StepFeedbackReply> {
    const { redis, outbox, retentionSeconds } = this.ctx;
    const reply = await stepFeedback(redis, { scope, runId, stepId, feedback, retentionSeconds, outbox });
    if (reply.result === 'recorded' && reply.where === 'compacted' && outbox) {
      const step = (await this.records.get(scope, runId))?.steps.find((s) => s.stepId === stepId);
      if (step) await redis.xadd(keys.outbox(scope), '*', 'kind', 'step', 'id', `${runId}.${stepId}`, 'doc', JSON.stringify(step), 'ws', scope.workspace);
    }
    return reply;
  }
}
