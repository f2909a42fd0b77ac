/**
 * Work outputs: named results an agent step hands over while it works (the `emit_output` tool,
 * the seeds' Thinking Partner `emit_work_output`), kept on its run (`outputs` of the run record)
 * and listed by `GET /v1/runs/:id/outputs`. One per (step, name): a step that emits a name again
 * replaces its own earlier one; a call delivered again (the same `callKey`) changes nothing.
 */
import { z } from 'zod';

export const WorkOutputFormat = z.enum(['markdown', 'json', 'text']);
export type WorkOutputFormat = z.infer<typeof WorkOutputFormat>;

/** An output's name: what a person or a program looks it up by. */
export const WorkOutputName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/, 'must start with a letter or digit and contain only letters, digits, spaces, "_", "." or "-" (at most 100)');

/** Most UTF-8 bytes of one output's content. */
export const MAX_WORK_OUTPUT_BYTES = 256 * 1024;
/** Most outputs one run keeps (a name emitted again by the same step replaces its own). */
export const MAX_WORK_OUTPUTS = 50;

export const WorkOutput = z.object({
  name: WorkOutputName,
  format: WorkOutputFormat,
  /** The text as given (for `json`, a JSON text). */
  content: z.string(),
  /** The step that emitted it. */
  stepId: z.string(),
  /** The model call (1, 2, ...) of the step whose answer emitted it. */
  turn: z.number().int().positive(),
  /** `<run>.<step>.<turn>.<call>` of the call that emitted it: a delivery of the same call again changes nothing. */
  callKey: z.string(),
  createdAt: z.string(),
  /** When the step emitted the name again (replacing the content), else null. */
  updatedAt: z.string().nullable(),
});
export type WorkOutput = z.infer<typeof WorkOutput>;
