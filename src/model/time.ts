/**
 * The time as a record keeps it (ISO 8601 text, UTC, ms). Made once per millisecond: a write's
 * time is taken on every run's submission, step begin and step result (`toISOString` of a new
 * Date costs about a microsecond here), and runs handled in one turn share a millisecond.
 */

/** The millisecond of the text last made, and the text. */
let lastMs = Number.NaN;
let lastText = '';

/** `ms` (epoch milliseconds) as ISO text: `new Date(ms).toISOString()`. */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastText;
}

/** Now, as ISO text: `new Date().toISOString()`. */
export const isoNow = (): string => isoTime(Date.now());
