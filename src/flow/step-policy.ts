/**
 * How a step's job is retried and how long one segment of its work may run: the agent's
 * settings for a step an agent's pool runs (overridden by the step's own `attempts` and
 * `timeoutMs`), the engine's defaults for a step it runs itself. One place, for the flows built
 * at submission and those a running step adds.
 */
import type { AgentRegistry } from '../agents/registry.js';
import type { CompiledStep } from '../kinds/definition.js';
import type { JobPolicy } from './flow-builder.js';

/**
 * Retry policy and timeout of a step the engine runs itself (no agent): loops, forEach,
 * approval gates. Their work is idempotent through their checkpoint, so a delivery cut short
 * (a lost worker, a Redis error) is taken over by the next attempt instead of failing the run.
 */
export const ENGINE_STEP_DEFAULTS = {
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 1000, jitter: 0 },
  timeoutMs: 120_000,
} as const satisfies JobPolicy & { timeoutMs: number };

/** `agents`: those the step's workspace sees (its own, then the shared ones); default the shared ones. */
export interface StepPolicy {
  job(step: CompiledStep, agents?: AgentRegistry): JobPolicy;
  timeoutMs(step: CompiledStep, agents?: AgentRegistry): number;
  /** How many of an agent's jobs may wait plain in its queue while nothing is prioritized (fair-priorities.ts): its concurrency; 1 for an agent it does not know. */
  share(agent: string, agents?: AgentRegistry): number;
}

export function stepPolicy(registry: AgentRegistry): StepPolicy {
  const defaults = (step: CompiledStep, agents = registry) => (step.agent ? agents.require(step.agent) : ENGINE_STEP_DEFAULTS);
  return {
    job: (step, agents) => {
      const d = defaults(step, agents);
      return { attempts: step.attempts ?? d.attempts, backoff: d.backoff };
    },
    timeoutMs: (step, agents) => step.timeoutMs ?? defaults(step, agents).timeoutMs,
    share: (agent, agents = registry) => agents.get(agent)?.concurrency ?? 1,
  };
}
