/** A record's time as ISO text (model/time.ts): the same text as `new Date(ms).toISOString()`, made once per second. */
import { describe, expect, it } from 'vitest';
import { isoNow, isoTime } from '../../src/model/time.js';

describe('isoTime', () => {
  it('gives the text toISOString gives, for times in one second, across seconds and at the edges', () => {
    const base = Date.UTC(2026, 11, 7, 12, 0, 59, 998);
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, base, base + 1, base + 2, base + 3, base + 1000, 253402300799999, 253402300800000, 8.64e15];
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 4e12));
    for (const ms of times) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('takes what toISOString takes otherwise (before 1970, a fraction of a millisecond, an invalid time)', () => {
    for (const ms of [-1, -1001, 1.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  });

  it('isoNow is now', () => {
    const before = Date.now();
    const now = Date.parse(isoNow());
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
