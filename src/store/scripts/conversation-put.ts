import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('conversation-put', 3);

/**
 * Write a conversation's record (`record`: its JSON; null deletes it) if the stored one is at
 * `expectedVersion` (0: none may exist), with its index entry and its outbox copy (see
 * conversation-put.lua). True when written.
 */
export async function conversationPut(
  redis: Redis,
  a: { scope: Scope; id: string; expectedVersion: number; record: string | null; createdMs: number; outbox: boolean },
): Promise<boolean> {
  const written = await script.run(
    redis,
    [keys.conversation(a.scope, a.id), keys.conversationIndex(a.scope), keys.outbox(a.scope)],
    [a.id, String(a.expectedVersion), a.record ?? '', String(a.createdMs), a.outbox ? '1' : '0', `${a.scope.workspace}/${a.id}`],
  );
  return written === 1;
}
