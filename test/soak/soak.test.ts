/**
 * A short soak (bench/soak-lib.ts; `npm run soak -- --minutes N` for the long one, a step of its own in CI): mixed
 * workflows against the fake server with injected 429s, 500s and timeouts, on a Redis of its
 * own with AOF, while the worker process serving the agents is SIGKILLed and started again,
 * and Redis is stopped and started again once. Every accepted run finishes, no recorded answer
 * is asked for again or counted twice, and the runs' keys are gone once the retention has passed.
 */
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../bench/soak-lib.js';

describe('soak (short)', () => {
  it('loses no run and pays no recorded answer twice through worker kills and a Redis restart', async () => {
    const report = await runSoak({ durationMs: 7_000, killEveryMs: 2_500, minKills: 2, rate: 6, redisRestartAtMs: 1_500, retentionSeconds: 3 });
    expect(report.kills).toBe(2);
    expect(report.redisRestarts).toBe(1);
    expect(report.submitted).toBeGreaterThan(20);
    expect(report.injected.rateLimited + report.injected.failed + report.injected.slow).toBeGreaterThan(0);
    expect(report.stuck).toEqual([]);
    expect(Object.values(report.finished).reduce((a, b) => a + b, 0)).toBe(report.submitted);
    expect(report.repeatedAfterRecord).toEqual([]);
    expect(report.usageMismatch).toEqual([]);
    expect(report.leftoverRunKeys).toBe(0);
    expect(report.ok).toBe(true);
  }, 150_000);
});
