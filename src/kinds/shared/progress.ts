/**
 * Counts a streamed answer's text and reports `{chars, elapsedMs}`: on the first piece (time
 * to first token), then at most once per `intervalMs` (checked as pieces arrive, no timer).
 * Nothing is reported once `signal` has fired (the SDKs still hand over text already
 * received), and the returned callback never throws, as providers require.
 */
export function progressReporter(
  t0: number,
  intervalMs: number,
  signal: AbortSignal,
  report: (p: { chars: number; elapsedMs: number }) => void,
): (delta: string) => void {
  let chars = 0;
  let last: number | undefined;
  return (delta) => {
    chars += delta.length;
    const now = Date.now();
    if (signal.aborted || (last !== undefined && now - last < intervalMs)) return;
    last = now;
    try {
      report({ chars, elapsedMs: now - t0 });
    } catch {
      // Reporting is best effort; the answer matters more.
    }
  };
}
