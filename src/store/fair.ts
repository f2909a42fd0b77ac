/** Fair sharing of the cell's queues among workspaces: the turns new jobs take (scripts/lua/fair-turns.lua). */
import { fairTurns } from './scripts/index.js';
import type { Scope } from './scope.js';
import type { StoreContext } from './store-context.js';

export class FairTurns {
  constructor(private readonly ctx: StoreContext) {}

  /** The BullMQ priority of each new job of `scope`'s workspace on `queue`, in order: 0 (the plain wait list) or its turn. */
  take(scope: Scope, queue: string, jobIds: readonly string[], share: number): Promise<number[]> {
    return fairTurns(this.ctx.redis, scope, queue, jobIds, share);
  }
}
