/**
 * A streaming step's text as it arrives, for its viewers (`step.delta {attempt, text}`):
 * the pieces a provider streams (often a word each) coalesced into one delta per `intervalMs`,
 * so a long answer is tens of messages, not thousands. The first piece after a quiet spell
 * starts the interval; `flush()` sends what is left at once, and is awaited before the step's
 * result is recorded, so every delta comes before `step.completed`. Deltas are sent one after
 * the other, in order. Best effort: a failed send is dropped (the final text is in the
 * step's result), and the callback given to the provider never throws.
 */
import type { ExecutionContext } from '../executor.js';

/** Between 50 and 100 ms: smooth to read, few messages. */
export const DELTA_INTERVAL_MS = 75;

export interface DeltaCoalescer {
  /** The provider's `onText`: one piece of the answer. */
  onText(piece: string): void;
  /** Send what is pending now, and wait until every delta sent so far has gone. */
  flush(): Promise<void>;
}

export function deltaCoalescer(intervalMs: number, signal: AbortSignal, send: (text: string) => Promise<unknown>): DeltaCoalescer {
  let pending = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sent: Promise<void> = Promise.resolve();
  const sendPending = () => {
    clearTimeout(timer);
    timer = undefined;
    const text = pending;
    pending = '';
    // Nothing once the call is aborted: its step is ending another way.
    if (!text || signal.aborted) return;
    sent = sent.then(() => send(text)).then(noop, noop);
  };
  return {
    onText(piece) {
      if (!piece || signal.aborted) return;
      pending += piece;
      timer ??= setTimeout(sendPending, intervalMs);
    },
    flush() {
      sendPending();
      return sent;
    },
  };
}

const noop = () => undefined;

/** What `complete` is given when the step does not stream (one object for every call). */
const NOT_STREAMING: { onText?: (piece: string) => void } = Object.freeze({});

/**
 * Call `complete` with an `onText` that sends the step's deltas (and feeds `also`, e.g. the
 * progress reporter), when `stream` says so; the last delta is sent before it returns or throws.
 * Not streaming: `complete` is called without one.
 */
export async function withDeltas<T>(
  ctx: Pick<ExecutionContext, 'delta' | 'signal'>,
  stream: boolean | undefined,
  complete: (streaming: { onText?: (piece: string) => void }) => Promise<T>,
  also?: (piece: string) => void,
): Promise<T> {
  if (!stream) return complete(NOT_STREAMING);
  const deltas = deltaCoalescer(DELTA_INTERVAL_MS, ctx.signal, (text) => ctx.delta(text));
  const onText = (piece: string) => {
    deltas.onText(piece);
    also?.(piece);
  };
  try {
    return await complete({ onText });
  } finally {
    await deltas.flush();
  }
}
