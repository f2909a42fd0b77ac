/**
 * A look-again for a step that BullMQ reports finished while its run state still reads live
 * (queued, running, retrying).
 *
 * A step's final state is sent on BullMQ's connection just before its job completes (see
 * `RunStore.transitionStepAhead`), so Redis normally applies it first. The exception is a
 * state write that had to be resent (the script cache was flushed while the connection stayed
 * up: ioredis retries the script in full after BullMQ's completion has gone out). Otherwise a
 * step live at that point lost its job, and is recorded as lost after this grace.
 */
const LIVE_GRACE_MS: readonly number[] = [25, 50, 100, 200, 400, 800];

/**
 * `read()` until `live` is false, waiting a little longer each time (about 1.5 s in all);
 * the last read gets `final: true` (the caller may then settle what is still live).
 */
export async function readWithGrace<T>(read: (final: boolean) => Promise<T>, live: (v: T) => boolean): Promise<T> {
  let v = await read(false);
  for (let i = 0; i < LIVE_GRACE_MS.length && live(v); i++) {
    await new Promise((r) => setTimeout(r, LIVE_GRACE_MS[i]));
    v = await read(i === LIVE_GRACE_MS.length - 1);
  }
  return v;
}
