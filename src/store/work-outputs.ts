/**
 * Work outputs kept on a run (model/work-output.ts): written by the emit_output tool while a
 * step runs, in the run hash's `outputs`, so they are compacted, archived (the run's outbox
 * entry) and expire with the run's record, like its context; read with the run's other fields
 * (records.ts `fields`).
 */
import { outputEmit, type OutputEmitArgs, type OutputEmitReply } from './scripts/index.js';
import type { StoreContext } from './store-context.js';

export class WorkOutputs {
  constructor(private readonly ctx: StoreContext) {}

  /** Keep an output (see lua/output-emit.lua): once per call, one per (step, name), within the bounds given. */
  emit(a: OutputEmitArgs): Promise<OutputEmitReply> {
    return outputEmit(this.ctx.redis, a);
  }
}
