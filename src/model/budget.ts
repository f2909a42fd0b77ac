import { z } from 'zod';

/**
 * What a run may spend. A call or a step that would pass a limit is refused before it starts,
 * and the run halts as `budget_exceeded` (steps still running are cancelled); its output is
 * then the outputs of its steps that succeeded, by step id.
 */
export const Budget = z
  .object({
    /**
     * Most USD its provider calls may cost, by the price table (the agents file's `pricing:`
     * over the shipped prices). Each call reserves its estimate (its prompt, counted for its
     * model, and maxTokens, priced) first. A run that may call a model without a price is
     * refused (422).
     */
    maxCostUsd: z.number().positive().optional(),
    /** Most tokens (input and output) its provider calls may use, reserved as for maxCostUsd. */
    maxTokens: z.number().int().positive().optional(),
    /**
     * Most steps that call a model: `agent` steps (orchestrators, and the steps that forEach,
     * loop, vote, plan, delegation and approval revisions add), `plan` and `synthesize`; a step
     * reused by a rerun is not counted, nor are control steps (approval, concat, merge, and the
     * loop, forEach and vote steps themselves). Counted as each first starts: the step that
     * would pass the limit is not started.
     */
    maxSteps: z.number().int().positive().optional(),
    /** How long the run may take from its submission, in ms: a step that begins later halts it. */
    deadlineMs: z.number().int().positive().optional(),
  })
  .strict();
export type Budget = z.infer<typeof Budget>;

/** The step kinds that call a model, and so count against `maxSteps`. */
const COUNTED_KINDS: ReadonlySet<string> = new Set(['agent', 'plan', 'synthesize']);

/** Whether a step counts against its run's `maxSteps` (see Budget). */
export function countsTowardMaxSteps(step: { kind: string; reuse?: unknown }): boolean {
  return COUNTED_KINDS.has(step.kind) && step.reuse === undefined;
}

/**
 * A run budget's 80% warning (its `budget.warning` event's data, and the webhooks'): the limit
 * reached (one of maxCostUsd, maxTokens, maxSteps) and what was spent then. Given once per run,
 * by the first limit to reach 80%.
 */
export interface RunBudgetWarning {
  maxCostUsd?: number;
  maxTokens?: number;
  maxSteps?: number;
  spent: number;
}

/** A warning as a script returns it (its data JSON, '' for none). */
export const parseRunBudgetWarning = (text: string | null | undefined): RunBudgetWarning | undefined =>
  text ? (JSON.parse(text) as RunBudgetWarning) : undefined;
