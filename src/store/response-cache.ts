/**
 * The response cache's answers in Redis (keys.responseCache): one string per request hash under
 * the workspace's scope, living the agent's `cache.ttlSeconds`. What an answer holds and when it
 * is used is src/calls/response-cache.ts's; this is only where it is kept.
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { Scope } from './scope.js';

export class ResponseCacheStore {
  constructor(private readonly redis: Redis) {}

  /** The answer kept for `requestHash` (JSON), or null. */
  get(scope: Scope, requestHash: string): Promise<string | null> {
    return this.redis.get(keys.responseCache(scope, requestHash));
  }

  /** Keep `answer` (JSON) for `requestHash`, `ttlSeconds` long (a later answer of the same request replaces it). */
  async put(scope: Scope, requestHash: string, answer: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(keys.responseCache(scope, requestHash), answer, 'EX', ttlSeconds);
  }
}
