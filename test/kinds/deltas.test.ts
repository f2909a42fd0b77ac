/** The coalescing of a streaming step's text into `step.delta`s (src/kinds/shared/deltas.ts), on fake timers. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deltaCoalescer, withDeltas } from '../../src/kinds/shared/deltas.js';

describe('deltaCoalescer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const collector = () => {
    const sent: { text: string; at: number }[] = [];
    return { sent, send: (text: string) => (sent.push({ text, at: Date.now() - 1_000_000 }), Promise.resolve()) };
  };

  it('sends the pieces of one interval as one delta, the interval starting at the first piece', async () => {
    const { sent, send } = collector();
    const deltas = deltaCoalescer(75, new AbortController().signal, send);
    vi.advanceTimersByTime(10);
    for (let i = 0; i < 20; i++) {
      deltas.onText(`w${i} `); // t=10..200, a piece every 10 ms
      await vi.advanceTimersByTimeAsync(10);
    }
    // t=10 starts an interval sent at 85 (w0..w7), t=90 one sent at 165 (w8..w15); w16..w19 are pending.
    expect(sent.map((s) => s.at)).toEqual([85, 165]);
    expect(sent[0]!.text).toBe('w0 w1 w2 w3 w4 w5 w6 w7 ');
    await deltas.flush();
    expect(sent).toHaveLength(3);
    expect(sent[2]).toEqual({ text: 'w16 w17 w18 w19 ', at: 210 });
    expect(sent.map((s) => s.text).join('')).toBe(Array.from({ length: 20 }, (_, i) => `w${i} `).join(''));
  });

  it('sends nothing while no text comes, and nothing more once flushed', async () => {
    const { sent, send } = collector();
    const deltas = deltaCoalescer(50, new AbortController().signal, send);
    await vi.advanceTimersByTimeAsync(500);
    await deltas.flush();
    deltas.onText('');
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toEqual([]);
    deltas.onText('one');
    await deltas.flush();
    await vi.advanceTimersByTimeAsync(500);
    expect(sent.map((s) => s.text)).toEqual(['one']);
  });

  it('keeps the deltas in order when a send is slow, and flush waits for all of them', async () => {
    const order: string[] = [];
    const send = (text: string) => new Promise<void>((r) => setTimeout(() => (order.push(text), r()), text === 'a' ? 200 : 1));
    const deltas = deltaCoalescer(50, new AbortController().signal, send);
    deltas.onText('a');
    await vi.advanceTimersByTimeAsync(60); // 'a' sent at 50, still on its way
    deltas.onText('b');
    let flushed = false;
    const done = deltas.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(flushed).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    await done;
    expect(order).toEqual(['a', 'b']);
  });

  it('drops a failed send and goes on; sends nothing once the call is aborted', async () => {
    const sent: string[] = [];
    const call = new AbortController();
    const deltas = deltaCoalescer(50, call.signal, (text) => {
      sent.push(text);
      if (text === 'bad') throw new Error('redis down');
      return Promise.reject(new Error('also down'));
    });
    deltas.onText('bad');
    await vi.advanceTimersByTimeAsync(50);
    deltas.onText('next');
    await expect(deltas.flush()).resolves.toBeUndefined();
    deltas.onText('late');
    call.abort();
    await vi.advanceTimersByTimeAsync(100);
    await deltas.flush();
    expect(sent).toEqual(['bad', 'next']);
  });
});

describe('withDeltas', () => {
  it('calls without onText when the agent does not stream, and sends every piece before returning when it does', async () => {
    const sent: string[] = [];
    const ctx = { signal: new AbortController().signal, delta: (t: string) => (sent.push(t), Promise.resolve()) };
    const plain = await withDeltas(ctx, false, async (s) => (expect(s).toEqual({}), 'plain'));
    expect(plain).toBe('plain');
    const also: string[] = [];
    const answer = await withDeltas(
      ctx,
      true,
      async ({ onText }) => {
        for (const p of ['Hello', ', ', 'world']) onText!(p);
        return 'Hello, world';
      },
      (p) => also.push(p),
    );
    expect(sent.join('')).toBe(answer);
    expect(sent).toHaveLength(1); // all within one interval
    expect(also).toEqual(['Hello', ', ', 'world']);
  });

  it('sends the text that came before the call failed', async () => {
    const sent: string[] = [];
    const ctx = { signal: new AbortController().signal, delta: (t: string) => (sent.push(t), Promise.resolve()) };
    await expect(
      withDeltas(ctx, true, async ({ onText }) => {
        onText!('half an ans');
        throw new Error('stream broke');
      }),
    ).rejects.toThrow('stream broke');
    expect(sent).toEqual(['half an ans']);
  });
});
