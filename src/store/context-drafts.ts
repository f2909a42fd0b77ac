/**
 * What a running step gives for its run's shared context before it has a result (the
 * publish_context tool): kept on the step (lua/context-draft.lua), published with its result
 * when it succeeds (engine/publish.ts), so a step that fails publishes nothing.
 */
import { keys } from './keys.js';
import type { Scope } from './scope.js';
import { contextDraft, parseJson, type ContextDraftArgs, type ContextDraftReply } from './scripts/index.js';
import type { StoreContext } from './store-context.js';

export class ContextDrafts {
  constructor(private readonly ctx: StoreContext) {}

  /** Keep `value` for `name` while the step runs `attempt` (a name given again takes the new value). */
  put(a: ContextDraftArgs): Promise<ContextDraftReply> {
    return contextDraft(this.ctx.redis, a);
  }

  /** The values a step gave, by name (empty when none). */
  async get(scope: Scope, runId: string, stepId: string): Promise<Record<string, unknown>> {
    return parseJson<Record<string, unknown> | null>(await this.ctx.redis.hget(keys.step(scope, runId, stepId), 'contextDraft')) ?? {};
  }
}
