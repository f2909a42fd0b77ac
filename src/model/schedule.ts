/**
 * The schedule vocabulary shared by workflow definitions (a `schedule:` block in flows/) and the
 * schedules service. A leaf module: the compiler and the service both import it, neither imports
 * the other.
 */
import { z } from 'zod';
import { JsonObject } from './json.js';

/** Schedules declared in flows/ have the id `flow.<workflow name>`. */
export const FLOW_SCHEDULE_PREFIX = 'flow.';

/** The longest schedule id (a flows/ schedule's is `flow.<workflow name>`: compile checks it fits). */
export const SCHEDULE_ID_MAX_LENGTH = 100;

export const ScheduleId = z
  .string()
  .regex(new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${SCHEDULE_ID_MAX_LENGTH - 1}}$`), 'must be letters, digits, ".", "_" or "-"');

/** A workflow's `schedule:` block. */
export const ScheduleSpec = z
  .object({
    /** Cron pattern (5 or 6 fields): checked by the compiler and the schedules service (src/lang/cron.ts). */
    cron: z.string().min(1),
    /** IANA time zone, e.g. Europe/Paris. Default UTC. */
    tz: z.string().optional(),
    /** Input of each scheduled run. */
    input: JsonObject.default({}),
  })
  .strict();
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;
