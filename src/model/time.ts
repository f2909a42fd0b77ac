/**
 * The time as a record keeps it (ISO 8601 text, UTC, ms). Its second's text is made once per
 * second: a write's time is taken on every run's submission, step begin and step result
 * (`toISOString` of a new Date costs about a microsecond here), and the runs of one second
 * differ only in their last digits.
 */

/** The latest Date's ms a text is made for (a later one is not a valid Date). */
const MAX_DATE_MS = 8.64e15;
/** The second of the text last made, and that text without its milliseconds and `Z`. */
let lastSecond = Number.NaN;
let secondText = '';

/** `ms` (epoch milliseconds) as ISO text: `new Date(ms).toISOString()`. */
export function isoTime(ms: number): string {
  if (!(ms >= 0 && ms < MAX_DATE_MS) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    secondText = new Date(ms).toISOString().slice(0, -4);
    lastSecond = second;
  }
  const milli = ms - second * 1000;
  return secondText + (milli < 10 ? '00' : milli < 100 ? '0' : '') + milli + 'Z';
}

/** Now, as ISO text: `new Date().toISOString()`. */
export const isoNow = (): string => isoTime(Date.now());
