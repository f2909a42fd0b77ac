/**
 * The admission seam without Redis: its parts are asked in order and settled in reverse, what
 * an earlier part granted is given back when a later one does not let the call go (or its
 * wait is aborted), and the one decorator turns each verdict into the error a step acts on.
 */
import { describe, expect, it } from 'vitest';
import { BudgetExceededError, CapacityWaitError, QuotaRefusedError } from '../../src/errors/index.js';
import { CAPACITY_WAIT } from '../../src/model/run.js';
import { AdmittedProvider, admissionOf, estimateCall, type Admission, type CallEnd, type Verdict } from '../../src/calls/admission/admission.js';
import { BudgetGate, type BudgetLedger } from '../../src/calls/admission/budget-gate.js';
import type { CompletionRequest, CompletionResult, Provider } from '../../src/calls/provider.js';
import type { BudgetReservation } from '../../src/store/scripts/index.js';
import { silentLogger } from '../../src/logger.js';

const request = (over: Partial<CompletionRequest> = {}): CompletionRequest => ({
  agent: 'a',
  model: 'echo',
  messages: [{ role: 'user', content: 'hello there' }],
  maxTokens: 100,
  signal: new AbortController().signal,
  ...over,
});

const answer = (text = 'ok'): CompletionResult => ({ text, usage: { inputTokens: 3, outputTokens: 4 }, model: 'echo' });

/** A part that answers `verdict` and writes down what it was asked and settled with. */
function part(name: string, log: string[], verdict: Verdict<string> | Error = { kind: 'go', ticket: name }): Admission<string> {
  return {
    acquire: () => {
      log.push(`acquire ${name}`);
      return verdict instanceof Error ? Promise.reject(verdict) : Promise.resolve(verdict);
    },
    settle: (ticket: string, end: CallEnd) => {
      log.push(`settle ${ticket} ${'answer' in end ? 'answer' : 'error'}`);
      return Promise.resolve(end);
    },
  };
}

const provider = (complete: Provider['complete']): Provider => ({ name: 'echo', complete });

describe('admissionOf', () => {
  it('asks its parts in order and settles them in reverse', async () => {
    const log: string[] = [];
    const admitted = new AdmittedProvider(
      provider(() => Promise.resolve(answer())),
      admissionOf([part('budget', log), part('limits', log)]),
    );
    expect((await admitted.complete(request())).text).toBe('ok');
    expect(log).toEqual(['acquire budget', 'acquire limits', 'settle limits answer', 'settle budget answer']);
  });

  it('gives back what an earlier part granted when a later one makes the call wait, and does not call the provider', async () => {
    const log: string[] = [];
    let called = false;
    const admitted = new AdmittedProvider(
      provider(() => ((called = true), Promise.resolve(answer()))),
      admissionOf([part('budget', log), part('limits', log, { kind: 'wait', ms: 1200, why: 'openai/gpt-x rpm', limit: 'rpm' })]),
    );
    const err = await admitted.complete(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityWaitError);
    expect(err).toMatchObject({ message: `${CAPACITY_WAIT}openai/gpt-x rpm`, waitMs: 1200, limit: 'rpm' });
    expect(called).toBe(false);
    expect(log).toEqual(['acquire budget', 'acquire limits', 'settle budget error']);
  });

  it('throws a refusal’s own error, after giving back the earlier grants; a part refused first leaves the later ones unasked', async () => {
    const log: string[] = [];
    const refusal = new QuotaRefusedError('quota exhausted on openai/gpt-x', 429);
    const limitsRefuse = new AdmittedProvider(
      provider(() => Promise.resolve(answer())),
      admissionOf([part('budget', log), part('limits', log, { kind: 'refuse', error: refusal })]),
    );
    await expect(limitsRefuse.complete(request())).rejects.toBe(refusal);
    expect(log).toEqual(['acquire budget', 'acquire limits', 'settle budget error']);

    log.length = 0;
    const over = new BudgetExceededError('budget exceeded: maxTokens 10');
    const budgetRefuses = admissionOf([part('budget', log, { kind: 'refuse', error: over }), part('limits', log)]);
    expect(await budgetRefuses.acquire({ req: request(), estimate: () => ({ inputTokens: 1, outputTokens: 1 }) })).toEqual({ kind: 'refuse', error: over });
    expect(log).toEqual(['acquire budget']);
  });

  it('gives back the earlier grants when a later part throws (its wait was aborted), and rethrows', async () => {
    const log: string[] = [];
    const aborted = new Error('aborted while waiting');
    const admission = admissionOf([part('budget', log), part('limits', log, aborted)]);
    await expect(admission.acquire({ req: request(), estimate: () => ({ inputTokens: 1, outputTokens: 1 }) })).rejects.toBe(aborted);
    expect(log).toEqual(['acquire budget', 'acquire limits', 'settle budget error']);
  });

  it('settles a failed call, and throws the error as the parts name it', async () => {
    const renamed = new QuotaRefusedError('quota exhausted (named by the limits)', 429);
    const naming: Admission<null> = {
      acquire: () => Promise.resolve({ kind: 'go', ticket: null }),
      settle: () => Promise.resolve({ error: renamed }),
    };
    const admitted = new AdmittedProvider(
      provider(() => Promise.reject(new Error('provider said no'))),
      naming,
    );
    await expect(admitted.complete(request())).rejects.toBe(renamed);
  });

  it('counts a call’s estimate once, and only for a part that asks for it', async () => {
    let estimated = 0;
    const counting: Admission<null> = {
      acquire: ({ estimate }) => {
        estimate();
        estimate();
        estimated++;
        return Promise.resolve({ kind: 'go', ticket: null });
      },
      settle: (_t, end) => Promise.resolve(end),
    };
    const req = request();
    const seen: number[] = [];
    const spy: Admission<null> = {
      acquire: ({ estimate }) => (seen.push(estimate().inputTokens), Promise.resolve({ kind: 'go', ticket: null })),
      settle: (_t, end) => Promise.resolve(end),
    };
    await new AdmittedProvider(
      provider(() => Promise.resolve(answer())),
      admissionOf([counting, spy]),
    ).complete(req);
    expect(estimated).toBe(1);
    expect(seen).toEqual([estimateCall(req).inputTokens]);
  });
});

describe('the budget part', () => {
  /** A ledger in memory: answers `reply` to each reservation and keeps what was reserved and settled. */
  function ledger(reply: string) {
    const reserved: BudgetReservation[] = [];
    const settled: { tokens: number; costUsd: number }[] = [];
    const l: BudgetLedger = {
      reserveBudget: (_scope, _runId, r) => (reserved.push(r), Promise.resolve(reply)),
      settleBudget: (_scope, _runId, _r, used) => (settled.push(used), Promise.resolve('')),
    };
    return { l, reserved, settled };
  }
  const holder = { runId: 'r1', workspaceId: 'default', tag: '{t}', stepId: 's1', attempt: 2, budgeted: true };

  it('lets a call of a run without a budget go at once, without a reservation', async () => {
    const { l, reserved } = ledger('');
    const gate = new BudgetGate({ ledger: l, leaseMs: 1000, logger: silentLogger, cell: { tag: '{t}' } });
    expect(await gate.acquire({ req: request({ holder: { ...holder, budgeted: false } }), estimate: () => ({ inputTokens: 1, outputTokens: 1 }) })).toEqual({
      kind: 'go',
      ticket: undefined,
    });
    expect(reserved).toEqual([]);
  });

  it('reserves the estimate for the attempt, for the step’s timeout and a margin, and settles what the call used', async () => {
    const { l, reserved, settled } = ledger('');
    const gate = new BudgetGate({ ledger: l, leaseMs: 1000, logger: silentLogger, cell: { tag: '{t}' } });
    const verdict = await gate.acquire({ req: request({ holder, timeoutMs: 30_000 }), estimate: () => ({ inputTokens: 10, outputTokens: 100 }) });
    expect(verdict.kind).toBe('go');
    expect(reserved[0]).toMatchObject({ tokens: 110, owner: { stepId: 's1', attempt: 2 }, leaseMs: 35_000 });
    await gate.settle(verdict.kind === 'go' ? verdict.ticket : undefined, { answer: answer() });
    expect(settled).toEqual([{ tokens: 7, costUsd: 0 }]);
  });

  it('waits (polling, jittered) while the run’s calls in flight hold the room, and refuses what the run cannot afford', async () => {
    const busy = new BudgetGate({ ledger: ledger('wait maxTokens 100 (spent 0, in flight 90)').l, leaseMs: 1000, logger: silentLogger, cell: { tag: '{t}' } });
    const wait = await busy.acquire({ req: request({ holder }), estimate: () => ({ inputTokens: 10, outputTokens: 10 }) });
    expect(wait).toMatchObject({ kind: 'wait', why: 'run budget maxTokens 100 (spent 0, in flight 90)', limit: 'budget' });
    expect(wait.kind === 'wait' && wait.ms).toBeGreaterThanOrEqual(500);
    const spent = new BudgetGate({ ledger: ledger('budget exceeded: maxTokens 100').l, leaseMs: 1000, logger: silentLogger, cell: { tag: '{t}' } });
    const refused = await spent.acquire({ req: request({ holder }), estimate: () => ({ inputTokens: 10, outputTokens: 10 }) });
    expect(refused.kind === 'refuse' && refused.error).toBeInstanceOf(BudgetExceededError);
  });
});
