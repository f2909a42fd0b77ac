/**
 * Work outputs kept on a run (model/work-output.ts): written by the emit_output tool while a
 * step runs, in the run hash's `outputs`, so they are compacted, archived (the run's outbox
 * entry) and expire with the run's record, like its context.
 */
import { keys } from './keys.js';
import { compactedRun } from './compacted.js';
import type { Scope } from './scope.js';
import { outputEmit, parseJson, type OutputEmitArgs, type OutputEmitReply } from './scripts/index.js';
import type { StoreContext } from './store-context.js';
import type { WorkOutput } from '../model/work-output.js';

export class WorkOutputs {
  constructor(private readonly ctx: StoreContext) {}

  /** Keep an output (see lua/output-emit.lua): once per call, one per (step, name), within the bounds given. */
  emit(a: OutputEmitArgs): Promise<OutputEmitReply> {
    return outputEmit(this.ctx.redis, a);
  }

  /** A run's work outputs in the order emitted (null: no such run in Redis). */
  async list(scope: Scope, runId: string): Promise<WorkOutput[] | null> {
    const [status, outputs, compacted] = await this.ctx.redis.hmget(keys.run(scope, runId), 'status', 'outputs', 'run');
    if (compacted) return compactedRun(compacted).run.outputs ?? [];
    if (status === null) return null;
    return parseJson<WorkOutput[] | null>(outputs) ?? [];
  }
}
