import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const feedback = new Script('step-feedback', 4);

export type StepFeedbackReply =
  { result: 'recorded'; where: 'step' | 'compacted' } | { result: 'missing' | 'no_step' } | { result: 'not_finished'; status: string };

/** Record feedback on a finished step (see lua/step-feedback.lua). */
export async function stepFeedback(
  redis: Redis,
  a: { scope: Scope; runId: string; stepId: string; feedback: unknown; retentionSeconds: number; outbox: boolean },
): Promise<StepFeedbackReply> {
  const [result, extra] = (await feedback.run(
    redis,
    [keys.run(a.scope, a.runId), keys.step(a.scope, a.runId, a.stepId), keys.feedback(a.scope, a.runId), keys.outbox(a.scope)],
    [a.stepId, JSON.stringify(a.feedback), a.retentionSeconds, a.outbox ? '1' : '0'],
  )) as [string, string?];
  if (result === 'recorded') return { result, where: extra as 'step' | 'compacted' };
  if (result === 'not_finished') return { result, status: extra ?? '' };
  return { result: result as 'missing' | 'no_step' };
}
