/**
 * The CLI's progress model of a run, from its events alone (pure, no server): a line per step
 * change with status, elapsed, tokens and cost; a replayed event changes nothing; a gate says
 * why it waits; retries and failures carry their reason.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/model/run.js';
import { RunProgress, stepLine } from '../../src/cli/progress.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
let n = 0;
const ev = (type: RunEvent['type'], ms: number, stepId?: string, data: Record<string, unknown> = {}): RunEvent => ({
  id: String(++n),
  type,
  runId: 'run_x',
  ...(stepId ? { stepId } : {}),
  at: new Date(T0 + ms).toISOString(),
  data,
});

describe('RunProgress', () => {
  it('turns events into one line per step change, with elapsed, tokens and cost', () => {
    const p = new RunProgress('run_x');
    p.seed('a');
    p.seed('b');
    expect(p.apply(ev('run.queued', 0, undefined, { workflow: 'w' }))).toBeUndefined();
    const started = p.apply(ev('step.started', 10, 'a', { attempt: 1 }));
    expect(stepLine(started!, T0 + 1010, 4)).toBe('▶ a     running      1.00s');
    const usage = { inputTokens: 100, outputTokens: 20, costUsd: 0.0006 };
    const done = p.apply(ev('step.completed', 1500, 'a', { usage, model: 'm', durationMs: 1480 }));
    expect(stepLine(done!, undefined, 4)).toBe('✓ a     succeeded    1.48s  120 tokens  $0.0006');
    expect(p.list().map((s) => [s.stepId, s.status])).toEqual([
      ['a', 'succeeded'],
      ['b', 'pending'],
    ]);
    expect(p.totals()).toEqual({ tokens: 120, costUsd: 0.0006 });
  });

  it('ignores an event it has seen (a stream that reconnected replays none, but a replay changes nothing)', () => {
    const p = new RunProgress('run_x');
    const e = ev('step.started', 0, 'a', { attempt: 1 });
    expect(p.apply(e)).toBeDefined();
    expect(p.apply(e)).toBeUndefined();
  });

  it("changes no line for a streaming step's text (step.delta, live only, no id), nor keeps it from seeing the next events", () => {
    const p = new RunProgress('run_x');
    p.apply(ev('step.started', 0, 'a', { attempt: 1 }));
    const delta = (text: string): RunEvent => ({ ...ev('step.delta', 5, 'a', { attempt: 1, text }), id: '' });
    expect(p.apply(delta('Hello'))).toBeUndefined();
    expect(p.apply(delta(', world'))).toBeUndefined();
    expect(p.apply(ev('step.completed', 10, 'a', { durationMs: 10 }))?.status).toBe('succeeded');
  });

  it("says why a gate waits, a retry's reason, a failure's error, and how the run ended", () => {
    const p = new RunProgress('run_x');
    p.apply(ev('step.started', 0, 'gate', { attempt: 1 }));
    const waiting = p.apply(ev('step.waiting', 5, 'gate', { reason: 'waiting for approval', until: '2026-12-08T10:00:00.000Z' }));
    expect(waiting?.note).toBe('waiting for approval, until 2026-12-08 10:00Z');
    const decided = p.apply(ev('step.approved', 9, 'gate', { approved: true, by: 'ana', comment: 'ok' }));
    expect(decided?.note).toBe('approved by ana: ok');
    p.apply(ev('step.started', 10, 'call', { attempt: 1 }));
    const retry = p.apply(ev('step.retrying', 20, 'call', { attempt: 1, error: 'HTTP 500', retryAt: '2026-12-07T10:00:02.000Z' }));
    expect(stepLine(retry!, undefined, 4)).toMatch(/^↻ call {2}retrying +attempt 1 failed \(HTTP 500\), again at 10:00:02$/);
    const failed = p.apply(ev('step.failed', 3000, 'call', { error: 'HTTP 400: bad request' }));
    expect(stepLine(failed!, undefined, 4)).toBe('✗ call  failed       2.99s  HTTP 400: bad request');
    p.apply(ev('run.finished', 3010, undefined, { status: 'failed', error: 'step "call" failed' }));
    expect(p.ending).toEqual({ status: 'failed', error: 'step "call" failed', at: T0 + 3010 });
  });
});
