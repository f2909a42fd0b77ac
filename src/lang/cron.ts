/** Cron patterns: what a schedule's `cron` may be (checked where a workflow is compiled and where a schedule is set). */
import { CronExpressionParser } from 'cron-parser';
import { excerpt } from '../errors/excerpt.js';

/** What a cron pattern is, for messages. */
export const CRON_EXPECTED =
  'a cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; e.g. "0 9 * * 1" is every Monday at 09:00';

/** The fields of a 6-field pattern (a 5-field one has no seconds), with the largest step each takes. */
const CRON_FIELDS = [
  { name: 'second', maxStep: 59 },
  { name: 'minute', maxStep: 59 },
  { name: 'hour', maxStep: 23 },
  { name: 'day-of-month', maxStep: 31 },
  { name: 'month', maxStep: 12 },
  { name: 'day-of-week', maxStep: 7 },
];

/**
 * Why `cron` is not a usable cron pattern, or undefined: not 5 or 6 fields (words, an alias
 * like @daily), a step past its field's range (cron-parser takes `*\/1000000000`), or what
 * cron-parser refuses.
 */
export function cronProblem(cron: string, tz = 'UTC'): string | undefined {
  const shown = JSON.stringify(excerpt(cron, 100));
  const fields = cron.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) return `${shown} is not a cron pattern; expected ${CRON_EXPECTED}`;
  const specs = fields.length === 6 ? CRON_FIELDS : CRON_FIELDS.slice(1);
  for (const [i, field] of fields.entries()) {
    const { name, maxStep } = specs[i]!;
    for (const part of field.split(',')) {
      const step = part.split('/')[1];
      if (step !== undefined && /^\d+$/.test(step) && (Number(step) < 1 || Number(step) > maxStep)) {
        return `invalid cron pattern ${shown}: the step /${step} of the ${name} field is out of range (1-${maxStep})`;
      }
    }
  }
  try {
    CronExpressionParser.parse(cron, { tz, strict: false });
  } catch (err) {
    return `invalid cron pattern ${shown}: ${(err as Error).message}; expected ${CRON_EXPECTED}`;
  }
  return undefined;
}
