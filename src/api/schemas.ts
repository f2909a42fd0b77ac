/**
 * The HTTP API's request schemas: the single source of truth for validation (and, later,
 * for OpenAPI). Response shapes are the run/step records of src/runs/types.ts.
 */
import { z } from 'zod';
import { RunStatus } from '../runs/types.js';
import { StepInput } from '../workflows/definition.js';

const common = {
  /** A repeated submission with the same key returns the same run. */
  idempotencyKey: z.string().min(1).max(200).regex(/^[^\s]+$/, 'must not contain spaces').optional(),
  /** BullMQ priority: 1 is the highest; omit for normal (FIFO) order. */
  priority: z.number().int().min(1).max(2_097_152).optional(),
};

/** A workflow step's input, with the API's own message for an empty task. */
export const AgentTaskInput = StepInput.extend({ task: z.string().min(1, 'must not be empty') });

export const SubmitAgentRun = z.object({ agent: z.string().min(1), input: AgentTaskInput, ...common }).strict();
export const SubmitWorkflowRun = z
  .object({
    workflow: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
    input: z.record(z.string(), z.unknown()).default({}),
    ...common,
  })
  .strict();

export const SubmitRun = z.union([SubmitAgentRun, SubmitWorkflowRun]);
export type SubmitRun = z.infer<typeof SubmitRun>;

export const ListRunsQuery = z
  .object({
    status: RunStatus.optional(),
    workflow: z.string().min(1).optional(),
    agent: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(20),
    cursor: z.string().min(1).optional(),
  })
  .strict();
