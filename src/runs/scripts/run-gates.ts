import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { RunStatus } from '../types.js';
import { Script } from './script.js';

const script = new Script('run-gates', 3);

/** Set the run `waiting` while an approval gate waits for a decision, `running` otherwise (see run-gates.lua). */
export async function runGates(redis: Redis, a: { prefix: string; runId: string }): Promise<RunStatus | 'missing'> {
  return (await script.run(redis, [keys.run(a.prefix, a.runId), keys.runSteps(a.prefix, a.runId), keys.events(a.prefix, a.runId)], [keys.stepPrefix(a.prefix, a.runId), new Date().toISOString()])) as RunStatus | 'missing';
}
