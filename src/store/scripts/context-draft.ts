import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('context-draft', 1);

export interface ContextDraftArgs {
  scope: Scope;
  runId: string;
  stepId: string;
  /** The attempt the caller runs: kept only while the step runs it. */
  attempt: number;
  name: string;
  value: unknown;
  maxNames: number;
  /** Most bytes of the step's values together (their JSON). */
  maxBytes: number;
}

export type ContextDraftReply =
  { result: 'stored'; names: number } | { result: 'stale' } | { result: 'full'; names: number } | { result: 'too_large'; bytes: number };

export async function contextDraft(redis: Redis, a: ContextDraftArgs): Promise<ContextDraftReply> {
  const [result, n] = (await script.run(
    redis,
    [keys.step(a.scope, a.runId, a.stepId)],
    [a.attempt, a.name, JSON.stringify(a.value), a.maxNames, a.maxBytes],
  )) as [string, number | undefined];
  if (result === 'stored' || result === 'full') return { result, names: Number(n) };
  if (result === 'too_large') return { result, bytes: Number(n) };
  return { result: 'stale' };
}
