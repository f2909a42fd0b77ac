/** The step machine's decision, without Redis: each state a step's job can find, and what it does. */
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/errors/index.js';
import { decide, fastStart, type DecisionInput } from '../../src/engine/decide.js';
import type { StepStatus } from '../../src/model/run.js';

const dep = (stepId: string, status: StepStatus, optional = false) => ({ stepId, status, optional });

function input(over: Partial<DecisionInput> = {}): DecisionInput {
  return {
    step: { dependsOn: ['a'], allowSkippedDeps: false },
    maxAttempts: 3,
    self: { status: 'pending', attempts: 0 },
    run: { status: 'running' },
    deps: [dep('a', 'succeeded')],
    scope: { input: {}, steps: {} },
    ...over,
  };
}

describe('decide', () => {
  it('starts a pending step whose dependencies succeeded, and a retrying one', () => {
    expect(decide(input())).toEqual({ action: 'start', recovered: false });
    expect(decide(input({ self: { status: 'retrying', attempts: 1 } }))).toEqual({ action: 'start', recovered: false });
    expect(decide(input({ step: { dependsOn: [], allowSkippedDeps: false }, deps: [] }))).toEqual({ action: 'start', recovered: false });
  });

  it('never runs a finished step again, and ends at once when its run has ended', () => {
    for (const status of ['succeeded', 'failed', 'skipped', 'cancelled'] as const) {
      expect(decide(input({ self: { status, attempts: 1 } }))).toEqual({ action: 'finish', status });
    }
    for (const status of ['succeeded', 'failed', 'cancelled', 'partial_success'] as const) {
      expect(decide(input({ run: { status } }))).toEqual({ action: 'finish', status: 'cancelled' });
    }
  });

  it('reports dependencies still live as lost (their jobs are done, yet they never reported)', () => {
    const d = input({ step: { dependsOn: ['a', 'b', 'c'], allowSkippedDeps: false }, deps: [dep('a', 'running'), dep('b', 'succeeded'), dep('c', 'pending')] });
    expect(decide(d)).toEqual({ action: 'lost', deps: ['a', 'c'] });
  });

  it('cancels when a required dependency failed, and goes on past an optional one', () => {
    expect(decide(input({ deps: [dep('a', 'failed')] }))).toEqual({ action: 'cancel', reason: 'dependency "a" failed' });
    expect(decide(input({ deps: [dep('a', 'failed', true)] }))).toEqual({ action: 'start', recovered: false });
  });

  it('skips after a skipped or cancelled dependency unless allowSkippedDeps', () => {
    expect(decide(input({ deps: [dep('a', 'skipped')] }))).toEqual({ action: 'skip', reason: 'dependency "a" was skipped' });
    expect(decide(input({ deps: [dep('a', 'cancelled')] }))).toEqual({ action: 'skip', reason: 'dependency "a" was cancelled' });
    expect(decide(input({ step: { dependsOn: ['a'], allowSkippedDeps: true }, deps: [dep('a', 'skipped')] }))).toEqual({ action: 'start', recovered: false });
  });

  it('evaluates `when` over the scope: false skips, an error fails for good', () => {
    const when = (expr: string, output: unknown) =>
      decide(
        input({
          step: { dependsOn: ['a'], allowSkippedDeps: false, when: expr },
          scope: { input: { go: true }, steps: { a: { status: 'succeeded', output } } },
        }),
      );
    expect(when('input.go && steps.a.output.score > 3', '{"score": 5}')).toEqual({ action: 'start', recovered: false });
    expect(when('steps.a.output.score > 3', '{"score": 1}')).toEqual({ action: 'skip', reason: 'when is false: steps.a.output.score > 3' });
    const failed = when('input.go(', 'x');
    expect(failed.action).toBe('fail');
    expect(failed.action === 'fail' && failed.error).toBeInstanceOf(NonRetryableError);
  });

  it('resumes a step that waits for the steps it added, without a new attempt', () => {
    expect(decide(input({ self: { status: 'waiting', attempts: 1 } }))).toEqual({ action: 'resume' });
  });

  it('recovers an attempt cut short by a lost worker, until the attempts are used up', () => {
    expect(decide(input({ self: { status: 'running', attempts: 1 } }))).toEqual({ action: 'start', recovered: true });
    expect(decide(input({ self: { status: 'running', attempts: 2 } }))).toEqual({ action: 'start', recovered: true });
    const out = decide(input({ self: { status: 'running', attempts: 3 } }));
    expect(out.action).toBe('fail');
    expect(out.action === 'fail' && out.error.message).toBe('the step was interrupted 3 times (its worker was lost) and has no attempts left (attempts: 3)');
  });

  it("never starts an attempt beyond the step's attempts", () => {
    const out = decide(input({ self: { status: 'retrying', attempts: 3 } }));
    expect(out.action === 'fail' && out.error.message).toBe('the step has made 3 attempts and has no attempts left (attempts: 3)');
  });

  it('starts a join other than all once enough dependencies succeeded, whatever the others did', () => {
    const three = (join: DecisionInput['step']['join'], ...statuses: StepStatus[]) =>
      decide(input({ step: { dependsOn: ['a', 'b', 'c'], allowSkippedDeps: false, join }, deps: statuses.map((st, i) => dep('abc'[i]!, st, true)) }));
    expect(three('any', 'cancelled', 'succeeded', 'failed')).toEqual({ action: 'start', recovered: false });
    expect(three('bestEffort', 'failed', 'skipped', 'succeeded')).toEqual({ action: 'start', recovered: false });
    expect(three({ quorum: 2 }, 'succeeded', 'cancelled', 'succeeded')).toEqual({ action: 'start', recovered: false });
    const refused = three({ quorum: 2 }, 'succeeded', 'failed', 'cancelled');
    expect(refused).toMatchObject({ action: 'fail' });
    expect(refused.action === 'fail' && refused.error.message).toBe(
      'join: {quorum: 2} needs 2 of its 3 dependencies to succeed; 1 did ("b" failed, "c" cancelled)',
    );
    expect(three('any', 'skipped', 'skipped', 'skipped')).toEqual({ action: 'skip', reason: 'every dependency was skipped' });
  });
});

describe('ActiveJobs', () => {
  it('aborts a job tracked just after its cancellation arrived (the gap between its start and its tracking)', async () => {
    const { ActiveJobs } = await import('../../src/engine/active-jobs.js');
    const active = new ActiveJobs();
    const cancelled: string[] = [];
    const cancelOf = (id: string) => () => void cancelled.push(id);
    const ws = { workspace: 'default' };
    expect(active.cancelRun(ws, 'run_1', 'step cancelled', ['run_1.a'])).toBe(0);
    active.track(ws, 'run_1', 'run_1.b', cancelOf('run_1.b'))();
    active.track(ws, 'run_1', 'run_1.a', cancelOf('run_1.a'))();
    expect(cancelled).toEqual(['run_1.a']);
    active.cancelRun(ws, 'run_2', 'run cancelled');
    // A run of another workspace is another run, even under the same id.
    active.track({ workspace: 'other' }, 'run_2', 'run_2.y', cancelOf('run_2.y'))();
    active.track(ws, 'run_2', 'run_2.x', cancelOf('run_2.x'))();
    expect(cancelled).toEqual(['run_1.a', 'run_2.x']);
  });

  it('keeps a job delivered again while its earlier delivery still runs: the earlier one ending does not untrack it', async () => {
    const { ActiveJobs } = await import('../../src/engine/active-jobs.js');
    const active = new ActiveJobs();
    const cancelled: string[] = [];
    const ws = { workspace: 'default' };
    const untrackFirst = active.track(ws, 'run_3', 'run_3.a', () => void cancelled.push('first'));
    const untrackSecond = active.track(ws, 'run_3', 'run_3.a', () => void cancelled.push('second'));
    untrackFirst();
    expect(active.cancelRun(ws, 'run_3', 'run cancelled')).toBe(1);
    expect(cancelled).toEqual(['second']);
    untrackSecond();
    expect(active.cancelRun(ws, 'run_3', 'run cancelled')).toBe(0);
  });

  it("remembers a job's cancellation for its own workspace only", async () => {
    const { ActiveJobs } = await import('../../src/engine/active-jobs.js');
    const active = new ActiveJobs();
    const cancelled: string[] = [];
    active.cancelRun({ workspace: 'one' }, 'run_4', 'step cancelled', ['run_4.a']);
    active.track({ workspace: 'two' }, 'run_4', 'run_4.a', () => void cancelled.push('two'))();
    active.track({ workspace: 'one' }, 'run_4', 'run_4.a', () => void cancelled.push('one'))();
    expect(cancelled).toEqual(['one']);
  });
});

describe('fastStart', () => {
  it('lets the begin script start a step by itself only without a when and with a join of all', () => {
    expect(fastStart({})).toBe(true);
    expect(fastStart({ when: 'input.go == true' })).toBe(false);
    expect(fastStart({ join: 'any' })).toBe(false);
    expect(fastStart({ join: { quorum: 2 } })).toBe(false);
  });
});
