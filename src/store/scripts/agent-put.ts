import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('agent-put', 2);

/**
 * Write a workspace agent's record (JSON) if it is at `expectedVersion` (0: it must not exist),
 * with its index entry, and publish the change (see agent-put.lua). True when written.
 */
export async function agentPut(
  redis: Redis,
  a: { scope: Scope; name: string; expectedVersion: number; record: string; indexField: string; indexEntry: string },
): Promise<boolean> {
  const written = await script.run(
    redis,
    [keys.agents(a.scope), keys.agentIndex(a.scope)],
    [a.name, String(a.expectedVersion), a.record, a.indexField, a.indexEntry, keys.agentsChannel(a.scope)],
  );
  return written === 1;
}
