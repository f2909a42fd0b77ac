/** Wait for a condition in a test: call `fn` until `ok(value)`, or fail naming `what` and the last value. */
export async function poll<T>(
  what: string,
  fn: () => T | Promise<T>,
  ok: (v: T) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const { timeoutMs = 5_000, intervalMs = 25 } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
