/** The throttle of a streaming step's progress reports (src/kinds/shared/progress.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { progressReporter } from '../../src/kinds/shared/progress.js';

describe('progressReporter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports the first piece at once, then at most once per interval, with the characters so far', () => {
    const reports: { chars: number; elapsedMs: number }[] = [];
    const onText = progressReporter(Date.now(), 100, new AbortController().signal, (p) => reports.push(p));
    vi.advanceTimersByTime(30);
    onText('abc'); // t=30: first piece
    for (let i = 0; i < 9; i++) {
      vi.advanceTimersByTime(10);
      onText('de'); // t=40..120
    }
    vi.advanceTimersByTime(10);
    onText('f'); // t=130: 100 ms after the first report
    expect(reports).toEqual([
      { chars: 3, elapsedMs: 30 },
      { chars: 3 + 18 + 1, elapsedMs: 130 },
    ]);
  });

  it('reports nothing once the call is aborted', () => {
    const reports: unknown[] = [];
    const call = new AbortController();
    const onText = progressReporter(Date.now(), 10, call.signal, (p) => reports.push(p));
    onText('a');
    call.abort();
    vi.advanceTimersByTime(50);
    onText('b');
    expect(reports).toHaveLength(1);
  });

  it('never throws, even when reporting fails', () => {
    const onText = progressReporter(Date.now(), 10, new AbortController().signal, () => {
      throw new Error('redis down');
    });
    expect(() => onText('a')).not.toThrow();
  });
});
