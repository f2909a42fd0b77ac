/**
 * Approval gates (`kind: approval`) and the workflow's automation modes, over the HTTP API on
 * the real engine and Redis: a gate waits without a worker slot until approved, rejected or
 * timed out; cancelling a run waiting at a gate works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_QUEUE, stepJobId } from '../../src/store/keys.js';
import type { RunView } from '../../src/query/run-view.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

const gate = (extra: Record<string, unknown> = {}) => ({
  id: 'gate',
  kind: 'approval',
  dependsOn: ['draft'],
  input: { task: 'Approve the post', context: { post: '{{steps.draft.output}}' } },
  ...extra,
});
const publishFlow = (name: string, gateExtra: Record<string, unknown> = {}, wf: Record<string, unknown> = {}) => ({
  name,
  ...wf,
  steps: [
    { id: 'draft', agent: 'writer', input: { task: 'Draft the post' } },
    gate(gateExtra),
    { id: 'publish', agent: 'writer', dependsOn: ['gate'], input: { task: 'publish {{steps.draft.output}}' } },
  ],
});

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'approval',
    agents: { writer: { provider: 'echo' }, slowwriter: { provider: 'echo', echo: { latencyMs: 800 } } },
    workflows: [
      publishFlow('manual'),
      publishFlow('manual-skip', { onReject: 'skip' }),
      publishFlow('timeout-approve', { timeoutMs: 400, onTimeout: 'approve' }),
      publishFlow('timeout-reject', { timeoutMs: 400 }),
      publishFlow('timeout-race', { timeoutMs: 300 }),
      publishFlow('autonomous', {}, { automation: 'full_autonomous' }),
      {
        name: 'assisted',
        automation: 'assisted',
        steps: [
          { id: 'draft', agent: 'writer', input: { task: 'Draft' } },
          { id: 'review', kind: 'approval', dependsOn: ['draft'] },
          { id: 'gate', kind: 'approval', dependsOn: ['review'], publish: true },
        ],
      },
      {
        name: 'revise',
        steps: [
          { id: 'draft', agent: 'writer', input: { task: 'Draft the post' } },
          gate({ onReject: 'revise', review: 'draft', maxRevisions: 1 }),
          { id: 'publish', agent: 'writer', dependsOn: ['gate'], input: { task: 'publish {{steps.gate.output.output}}' } },
        ],
      },
      {
        name: 'revise-slow',
        steps: [{ id: 'draft', agent: 'slowwriter', input: { task: 'Draft slowly' } }, gate({ onReject: 'revise', review: 'draft' })],
      },
      {
        ...publishFlow('hybrid', { rules: ['input.risky == true', 'contains(steps.draft.output, "guarantee")'] }, { automation: 'hybrid' }),
        input: { risky: { type: 'boolean' } },
      },
    ],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

async function submit(workflow: string, input: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { workflow, input });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

const waitingAtGate = (id: string, stepId = 'gate') =>
  h.waitUntil(id, (r) => r.status === 'waiting' && (r.waitingAt ?? []).some((g) => g.stepId === stepId), 10_000);
const decide = (id: string, action: 'approve' | 'reject', body: Record<string, unknown> = {}, stepId = 'gate') =>
  h.request('POST', `/v1/runs/${id}/steps/${stepId}/${action}`, body);
const stepOf = (r: RunView, id: string) => r.steps.find((s) => s.stepId === id)!;

describe('an approval gate (automation: manual, the default)', () => {
  it('waits without a worker slot, shows the run waiting, and goes on once approved', async () => {
    const id = await submit('manual');
    const waiting = await waitingAtGate(id);
    expect(waiting.waitingAt).toEqual([{ stepId: 'gate', since: expect.any(String), deadline: null }]);
    expect(stepOf(waiting, 'gate')).toMatchObject({ status: 'waiting', reason: 'waiting for approval', waitingFor: { reason: 'approval', deadline: null } });
    expect(stepOf(waiting, 'publish').status).toBe('pending');
    // Stored as waiting: listings filter on it.
    const listed = await h.request('GET', '/v1/runs?status=waiting&limit=200');
    expect(listed.body.runs.map((r: { id: string }) => r.id)).toContain(id);
    // Parked in the delayed set: no worker holds it.
    expect(await h.system.queue(CONTROL_QUEUE).getJobState(stepJobId(id, 'gate'))).toBe('delayed');

    const res = await decide(id, 'approve', { by: 'ana@example.com', comment: 'ship it' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ runId: id, stepId: 'gate', decision: { approved: true, by: 'ana@example.com', comment: 'ship it', at: expect.any(String) } });
    const run = await h.waitForRun(id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'gate').output).toMatchObject({ approved: true, by: 'ana@example.com', comment: 'ship it' });
    expect(stepOf(run, 'gate').input).toEqual({ task: 'Approve the post', context: { post: '[writer] Draft the post' } });
    expect(stepOf(run, 'publish').status).toBe('succeeded');
    const approved = (await h.system.engine.store.events.read(h.system.scope(), id)).filter((e) => e.type === 'step.approved');
    expect(approved).toEqual([expect.objectContaining({ stepId: 'gate', data: expect.objectContaining({ by: 'ana@example.com', comment: 'ship it' }) })]);
    const runEvents = (await h.system.engine.store.events.read(h.system.scope(), id))
      .filter((e) => e.type === 'run.waiting' || e.type === 'run.resumed')
      .map((e) => [e.type, e.data]);
    expect(runEvents).toEqual([
      ['run.waiting', { step: 'gate' }],
      ['run.resumed', {}],
    ]);
    // Decided once.
    expect((await decide(id, 'reject')).status).toBe(409);
    await expectNoLiveJobs(h.system, id);
  });

  it('fails the run on a rejection, with who and why', async () => {
    const id = await submit('manual');
    await waitingAtGate(id);
    expect((await decide(id, 'reject', { by: 'bob', comment: 'not yet' })).status).toBe(200);
    const run = await h.waitForRun(id);
    expect(run.status).toBe('failed');
    expect(stepOf(run, 'gate')).toMatchObject({ status: 'failed', error: 'rejected by bob: not yet' });
    expect(stepOf(run, 'publish').status).toBe('cancelled');
    await expectNoLiveJobs(h.system, id);
  });

  it('skips the gate and what needs it on a rejection with onReject: skip', async () => {
    const id = await submit('manual-skip');
    await waitingAtGate(id);
    await decide(id, 'reject', { comment: 'skip it' });
    const run = await h.waitForRun(id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'gate')).toMatchObject({ status: 'skipped', reason: 'rejected by api: skip it' });
    expect(stepOf(run, 'publish').status).toBe('skipped');
  });

  it('decides by itself at timeoutMs: onTimeout approve, or reject (the default)', async () => {
    const [a, r] = await Promise.all([submit('timeout-approve'), submit('timeout-reject')]);
    const waiting = await waitingAtGate(a);
    expect(waiting.waitingAt![0]!.deadline).toEqual(expect.any(String));
    const [approved, rejected] = await Promise.all([h.waitForRun(a, 10_000), h.waitForRun(r, 10_000)]);
    expect(approved.status).toBe('succeeded');
    expect(stepOf(approved, 'gate').output).toMatchObject({ approved: true, by: 'timeout' });
    expect(rejected.status).toBe('failed');
    expect(stepOf(rejected, 'gate').error).toBe('rejected by timeout: no decision within 400 ms (onTimeout: reject)');
  });

  it('is cancelled with its run while it waits, leaving no job behind', async () => {
    const id = await submit('manual');
    await waitingAtGate(id);
    expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
    const run = await h.waitForRun(id);
    expect(run.status).toBe('cancelled');
    expect(stepOf(run, 'gate').status).toBe('cancelled');
    await expectNoLiveJobs(h.system, id);
    expect((await decide(id, 'approve')).status).toBe(409);
  });

  it('answers 404 for an unknown run or step, 409 for a step that is not a gate, 422 for a bad body', async () => {
    const id = await submit('manual');
    await waitingAtGate(id);
    expect((await h.request('POST', '/v1/runs/run_nosuchrun/steps/gate/approve', {})).status).toBe(404);
    const noStep = await decide(id, 'approve', {}, 'nope');
    expect(noStep.status).toBe(404);
    expect(noStep.body.error.message).toBe(`run "${id}" has no step "nope"`);
    const notGate = await decide(id, 'approve', {}, 'draft');
    expect(notGate.status).toBe(409);
    expect(notGate.body.error.message).toBe('step "draft" is not an approval gate, nor an agent step whose tool calls wait for approval');
    const bad = await decide(id, 'approve', { approved: true });
    expect(bad.status).toBe(422);
    expect((await h.request('POST', `/v1/runs/${id}/steps/bad:id/approve`, {})).status).toBe(422);
    await decide(id, 'approve');
    expect((await h.waitForRun(id)).status).toBe('succeeded');
  });
});

describe('automation modes', () => {
  it('full_autonomous: the gate passes at once', async () => {
    const run = await h.waitForRun(await submit('autonomous'));
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'gate').output).toMatchObject({ approved: true, by: 'automation' });
  });

  it('assisted: only the gate marked publish waits', async () => {
    const id = await submit('assisted');
    const waiting = await waitingAtGate(id, 'gate');
    expect(stepOf(waiting, 'review')).toMatchObject({ status: 'succeeded', output: expect.objectContaining({ by: 'automation' }) });
    expect(stepOf(waiting, 'gate').reason).toBe('waiting for approval (assisted: it publishes)');
    await decide(id, 'approve');
    expect((await h.waitForRun(id)).status).toBe('succeeded');
  });

  it('hybrid: the gate waits only when one of its rules asks for review', async () => {
    const calm = await h.waitForRun(await submit('hybrid', { risky: false }));
    expect(calm.status).toBe('succeeded');
    expect(stepOf(calm, 'gate').output).toMatchObject({ by: 'automation' });
    const id = await submit('hybrid', { risky: true });
    const waiting = await waitingAtGate(id);
    expect(stepOf(waiting, 'gate').reason).toBe('waiting for approval (hybrid: input.risky == true)');
    await decide(id, 'approve');
    expect((await h.waitForRun(id)).status).toBe('succeeded');
  });
});

describe('onReject: revise', () => {
  it('sends the comment back to the step under review, waits for a decision on the revision, and publishes the approved version', async () => {
    const id = await submit('revise');
    await waitingAtGate(id);
    expect((await decide(id, 'reject', { by: 'ed', comment: 'more numbers' })).status).toBe(200);
    const again = await h.waitUntil(id, (r) => r.status === 'waiting' && stepOf(r, 'gate').reason === 'waiting for approval (revision 1)', 10_000);
    const revision = stepOf(again, 'gate.1.revise');
    expect(revision).toMatchObject({ parent: 'gate', agent: 'writer', status: 'succeeded' });
    expect(revision.input).toEqual({ task: 'Draft the post', context: { previousOutput: '[writer] Draft the post', feedback: 'more numbers' } });
    await decide(id, 'approve', { by: 'ed' });
    const run = await h.waitForRun(id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'gate').output).toMatchObject({ approved: true, by: 'ed', revisions: 1, output: revision.output });
    expect(stepOf(run, 'publish').output).toBe(`[writer] publish ${revision.output as string}`);
    await expectNoLiveJobs(h.system, id);
  });

  it('fails on a rejection once maxRevisions revisions were made', async () => {
    const id = await submit('revise');
    await waitingAtGate(id);
    await decide(id, 'reject', { comment: 'no' });
    await h.waitUntil(id, (r) => r.status === 'waiting' && stepOf(r, 'gate').reason === 'waiting for approval (revision 1)', 10_000);
    await decide(id, 'reject', { comment: 'still no' });
    const run = await h.waitForRun(id);
    expect(run.status).toBe('failed');
    expect(stepOf(run, 'gate').error).toBe('rejected by api: still no (no revision left: maxRevisions 1)');
  });

  it('takes no decision while the revision runs, and says so', async () => {
    const id = await submit('revise-slow');
    await waitingAtGate(id, 'gate');
    await decide(id, 'reject', { comment: 'redo' });
    const revising = await h.waitUntil(id, (r) => r.steps.some((s) => s.stepId === 'gate.1.revise' && s.status === 'running'), 10_000);
    expect(revising.status).toBe('running');
    expect(stepOf(revising, 'gate').waitingFor).toEqual({ reason: 'children', steps: ['gate.1.revise'] });
    const early = await decide(id, 'approve');
    expect(early.status).toBe(409);
    expect(early.body.error.message).toBe('step "gate" waits for the revision it asked for; decide once it is done');
    await h.waitUntil(id, (r) => r.status === 'waiting', 10_000);
    await decide(id, 'approve');
    expect((await h.waitForRun(id)).status).toBe('succeeded');
  });

  it('is refused at compile time without a review step, or with one that is not an agent step or not an ancestor', async () => {
    const base = (g: Record<string, unknown>, extra: Record<string, unknown>[] = []) => ({
      name: 'bad-gate',
      steps: [{ id: 'draft', agent: 'writer', input: { task: 'x' } }, ...extra, { id: 'gate', kind: 'approval', dependsOn: ['draft'], ...g }],
    });
    const issues = async (def: unknown) =>
      (await h.request('POST', '/v1/workflows/validate', def)).body.error.issues.map((i: { path: string; message: string }) => [i.path, i.message]);
    expect(await issues(base({ onReject: 'revise' }))).toContainEqual(['steps[1].review', 'onReject: revise needs review: the id of the agent step to revise']);
    expect(await issues(base({ onReject: 'revise', review: 'other' }, [{ id: 'other', agent: 'writer', input: { task: 'y' } }]))).toContainEqual([
      'steps[2].review',
      expect.stringContaining('which is not an ancestor of "gate"'),
    ]);
    expect(await issues(base({ onReject: 'revise', review: 'g0' }, [{ id: 'g0', kind: 'approval', dependsOn: ['draft'] }]))).toContainEqual([
      'steps[2].review',
      'the step under review must be an agent step; "g0" is a approval step',
    ]);
  });
});

describe('decisions that race the gate', () => {
  it('goes on when approved in the moment the gate parks (between recording waiting and sleeping)', async () => {
    const steps = h.system.engine.store.steps;
    const original = steps.transition.bind(steps);
    let decision: Promise<unknown> | undefined;
    steps.transition = async (scope, runId, stepId, t) => {
      const res = await original(scope, runId, stepId, t);
      // Decided concurrently, while the gate's job is still active.
      if (stepId === 'gate' && t.to === 'waiting' && !decision)
        decision = h.system.api.actions.decide(h.system.scope(), runId, stepId, { approved: true, by: 'quick' });
      return res;
    };
    try {
      const run = await h.waitForRun(await submit('manual'), 8_000);
      expect(run.status).toBe('succeeded');
      expect(stepOf(run, 'gate').output).toMatchObject({ approved: true, by: 'quick' });
      await decision;
    } finally {
      steps.transition = original;
    }
  });

  it('applies a decision recorded as the gate wakes at its deadline, not the timeout', async () => {
    const store = h.system.engine.store;
    const original = store.steps.transition.bind(store.steps);
    store.steps.transition = async (scope, runId, stepId, t) => {
      // The gate read its checkpoint (no decision yet) and is about to resume: decided now.
      if (stepId === 'gate' && t.to === 'running' && t.from.includes('waiting')) {
        await store.gates.decide(scope, runId, stepId, { approved: true, by: 'just-in-time', comment: null, at: new Date().toISOString() });
      }
      return original(scope, runId, stepId, t);
    };
    try {
      const run = await h.waitForRun(await submit('timeout-race'), 8_000);
      expect(run.status).toBe('succeeded');
      expect(stepOf(run, 'gate').output).toMatchObject({ approved: true, by: 'just-in-time' });
    } finally {
      store.steps.transition = original;
    }
  });
});
