/**
 * Routing by capability: what a run or a delegation that names a capability (instead of an
 * agent) records of the agent chosen for it, and the limits it may set. The choice itself is
 * src/submit/routing.ts.
 */
import { z } from 'zod';

/** A capability name, as agents declare it (`capabilities[].name`). */
export const CapabilityName = z.string().min(1).max(100);

/** Limits a capability request sets: agents whose estimates pass them are not candidates. */
export const RoutingConstraints = z
  .object({
    /**
     * Most USD one call may cost, by the capability's `estimatedCostUsd`, else its model's price
     * for a call of its system prompt and maxTokens (an agent with neither is excluded).
     */
    maxCostUsd: z.number().nonnegative().optional(),
    /** Most ms one call may take, by the capability's `estimatedSeconds` (an agent without an estimate is excluded). */
    maxLatencyMs: z.number().int().nonnegative().optional(),
  })
  .strict();
export type RoutingConstraints = z.infer<typeof RoutingConstraints>;

/** One agent that declares the capability, as the choice saw it. */
export const RoutingCandidate = z.object({
  agent: z.string(),
  priority: z.number(),
  /** Healthy: its circuit closed, its model not paused, a live worker process serving its queue. */
  healthy: z.boolean(),
  /** What it was found to be (`circuit open on openai/gpt-4o`, `paused`, `no worker serving it`); empty when healthy. */
  problems: z.array(z.string()),
  /** The cost of one call: the capability's `estimatedCostUsd`, else its model's price for one call (see costFrom); null: neither is known. */
  estimatedCostUsd: z.number().nullable(),
  /**
   * Where estimatedCostUsd comes from: `declared` (the capability's), `priced` (the agent's model
   * at the registry's prices, for a call of its system prompt and maxTokens of output, as a run
   * budget reserves a call); null when it is null. Absent on steps routed before it was recorded.
   */
  costFrom: z.enum(['declared', 'priced']).nullable().optional(),
  estimatedSeconds: z.number().nullable(),
  /** How long its limiter would make a call wait now (ms; 0: none). */
  waitMs: z.number(),
  /** Why the constraints or health took it out of the choice; null when it was eligible. */
  excluded: z.string().nullable(),
});
export type RoutingCandidate = z.infer<typeof RoutingCandidate>;

/** What a step routed by capability records: the capability, every candidate, the agent chosen and why. */
export const StepRouting = z.object({
  capability: z.string(),
  candidates: z.array(RoutingCandidate),
  chosen: z.string(),
  reason: z.string(),
});
export type StepRouting = z.infer<typeof StepRouting>;
