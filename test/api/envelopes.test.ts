/**
 * Spend envelopes: what a workspace, or one API key, may spend per UTC day across all its runs,
 * held by the same reservation as a run's budget. A call an envelope cannot afford is not made
 * and its run halts `budget_exceeded` naming the envelope (every recorded output kept); a key's
 * envelope halts that key's runs while another key of the workspace runs on; 80% of a limit is
 * one budget.warning event and one audit entry a day; a submission while an envelope is spent
 * is refused (429 until it resets); a reservation whose worker died expires and a run's end
 * gives its reservations back.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utcDay } from '../../src/model/envelope.js';
import { isTerminalRun } from '../../src/model/run.js';
import type { RunView } from '../../src/query/run-view.js';
import { keys } from '../../src/store/keys.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL } from '../helpers/redis.js';
import { nodeArgs } from '../helpers/node-entry.js';

const exec = promisify(execFile);
let fake: FakeLlmServer;
let h: Harness;
let admin: Record<string, string>;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
/** An answer of about 60 tokens: each call uses much less than it reserves (its prompt and maxTokens 100). */
const ANSWER = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

beforeAll(async () => {
  fake = await startFakeLlmServer();
  fake.respondWith(() => ({ text: ANSWER }));
  h = await startHarness({
    name: 'envelopes',
    fake,
    agents: {
      gpt: { provider: 'openai', model: 'gpt-4o', attempts: 1, concurrency: 4, maxTokens: 100 },
      // Its calls reserve more than any room left once an envelope of 1000 halted a run.
      big: { provider: 'openai', model: 'gpt-4o', attempts: 1, maxTokens: 400 },
      // Served by no worker here: its runs stay live while a test reserves for them.
      idle: { provider: 'openai', model: 'gpt-4o', attempts: 1, maxTokens: 100 },
      // No price for its model (a cost envelope cannot hold its runs); served by no worker.
      unpriced: { provider: 'openai', model: 'house-model-1', attempts: 1, maxTokens: 100 },
    },
    workflows: [
      { name: 'long', steps: [{ sequential: Array.from({ length: 14 }, (_, i) => ({ id: `s${i + 1}`, agent: 'gpt', input: { task: `part ${i + 1}` } })) }] },
      { name: 'three', steps: [{ sequential: ['a', 'b', 'c'].map((id) => ({ id, agent: 'gpt', input: { task: `step ${id}` } })) }] },
      { name: 'big-three', steps: [{ sequential: ['a', 'b', 'c'].map((id) => ({ id, agent: 'big', input: { task: `big ${id}` } })) }] },
      { name: 'parked', steps: [{ id: 'p', agent: 'idle', input: { task: 'parked' } }] },
    ],
    pools: ['gpt', 'big'],
  });
  admin = bearer((await h.system.keys.create({ workspace: 'default', scopes: ['admin'] })).key);
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function submit(body: Record<string, unknown>, as: Record<string, string>): Promise<string> {
  const res = await h.request('POST', '/v1/runs', body, as);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

async function finished(workspace: string, id: string): Promise<RunView> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = await h.system.api.queries.get(h.system.scope(workspace), id);
    if (isTerminalRun(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} did not finish (status ${run.status})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const succeeded = (r: RunView) => r.steps.filter((s) => s.status === 'succeeded');
const warningsOf = async (workspace: string, id: string) =>
  (await h.system.engine.store.events.read(h.system.scope(workspace), id)).filter((e) => e.type === 'budget.warning');

describe("a workspace's envelope", () => {
  it('halts its runs at the limit: the call that would pass it is not made, outputs are kept, 80% is warned once (event and audit)', async () => {
    const acme = bearer((await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key);
    const put = await h.request('PUT', '/v1/workspaces/acme/envelope', { maxTokensPerDay: 1000 }, admin);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ workspace: 'acme', envelope: { maxTokensPerDay: 1000 }, today: { day: utcDay(Date.now()), spentTokens: 0 } });
    fake.reset();
    fake.respondWith(() => ({ text: ANSWER }));

    const first = await finished('acme', await submit({ workflow: 'long', input: {} }, acme));
    expect(first.status).toBe('budget_exceeded');
    expect(first.error).toMatch(
      /^budget exceeded: workspace acme's daily token envelope 1000 would be passed by a call of about \d+ tokens \(spent \d+ today; it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z\)$/,
    );
    const done = succeeded(first);
    expect(done.length).toBeGreaterThanOrEqual(5);
    expect(done.length).toBeLessThan(14);
    // Every answer got is kept; the refused call was never made.
    expect(done.every((s) => s.output === ANSWER)).toBe(true);
    expect(fake.requests).toHaveLength(done.length);
    expect(first.steps[done.length]).toMatchObject({ status: 'cancelled' });

    const view = (await h.request('GET', '/v1/workspaces/acme/envelope', undefined, acme)).body;
    expect(view.today.spentTokens).toBeGreaterThanOrEqual(800);
    expect(view.today.spentTokens).toBeLessThanOrEqual(1000);
    expect(view.today).toMatchObject({ reservedTokens: 0, warned: true });
    expect(await warningsOf('acme', first.id)).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ envelope: 'workspace acme', maxTokensPerDay: 1000, day: view.today.day }) }),
    ]);

    // The next run halts at its first call, without a second warning.
    const second = await finished('acme', await submit({ workflow: 'big-three', input: {} }, acme));
    expect(second.status).toBe('budget_exceeded');
    expect(succeeded(second)).toEqual([]);
    expect(await warningsOf('acme', second.id)).toEqual([]);
    expect(fake.requests).toHaveLength(done.length);
    await expectNoLiveJobs(h.system, second.id);

    const audit = await h.request('GET', '/v1/audit?workspace=acme&action=envelope.warning', undefined, admin);
    expect(audit.body.entries).toEqual([
      expect.objectContaining({ action: 'envelope.warning', workspace: 'acme', target: first.id, details: expect.objectContaining({ maxTokensPerDay: 1000 }) }),
    ]);
  });

  it('refuses a submission while it is spent (429 naming it and when it resets), and lets runs go once removed', async () => {
    const acme = bearer((await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key);
    expect((await h.request('PUT', '/v1/workspaces/acme/envelope', { maxTokensPerDay: 500 }, admin)).status).toBe(200);
    const refused = await h.request('POST', '/v1/runs', { workflow: 'three', input: {} }, acme);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('envelope_spent');
    expect(refused.body.error.message).toMatch(
      /^workspace acme's daily token envelope 500 is spent \(\d+ tokens today\): no run is accepted until it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z$/,
    );
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);

    // A cost envelope the same way (gpt-4o has a price: the day's calls cost more than $0.001).
    expect((await h.request('PUT', '/v1/workspaces/acme/envelope', { maxCostUsdPerDay: 0.001 }, admin)).status).toBe(200);
    const byCost = await h.request('POST', '/v1/runs', { workflow: 'three', input: {} }, acme);
    expect(byCost.status).toBe(429);
    expect(byCost.body.error.message).toMatch(/^workspace acme's daily cost envelope \$0\.001 is spent \(\$0\.\d+ today\): no run is accepted until/);

    expect((await h.request('DELETE', '/v1/workspaces/acme/envelope', undefined, admin)).status).toBe(200);
    expect((await h.request('DELETE', '/v1/workspaces/acme/envelope', undefined, admin)).status).toBe(404);
    const free = await finished('acme', await submit({ workflow: 'three', input: {} }, acme));
    expect(free.status).toBe('succeeded');
    expect((await h.request('GET', '/v1/workspaces/acme/envelope', undefined, acme)).body.envelope).toBeNull();
    const changes = await h.request('GET', '/v1/audit?workspace=acme', undefined, admin);
    expect(changes.body.entries.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['envelope.changed', 'envelope.removed']));
  });
});

describe("a key's envelope", () => {
  it("halts that key's runs while another key of the same workspace runs on; runs record their key; keys list shows it", async () => {
    expect((await h.request('PUT', '/v1/workspaces/beta/envelope', { maxTokensPerDay: 100_000, maxCostUsdPerDay: 50 }, admin)).status).toBe(200);
    const made = await h.request('POST', '/v1/keys', { workspace: 'beta', scopes: 'runs:write,runs:read', maxTokensPerDay: 600, name: 'capped' }, admin);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body.envelope).toEqual({ maxTokensPerDay: 600 });
    const capped = bearer(made.body.key);
    const free = await h.system.keys.create({ workspace: 'beta', scopes: ['runs:write', 'runs:read'] });

    const halted = await finished('beta', await submit({ workflow: 'long', input: {} }, capped));
    expect(halted.status).toBe('budget_exceeded');
    expect(halted.error).toMatch(
      new RegExp(`^budget exceeded: key ${made.body.id} of workspace beta's daily token envelope 600 would be passed by a call of about \\d+ tokens`),
    );
    expect(halted.keyId).toBe(made.body.id);
    expect(succeeded(halted).length).toBeGreaterThan(0);

    const other = await finished('beta', await submit({ workflow: 'three', input: {} }, bearer(free.key)));
    expect(other.status).toBe('succeeded');
    expect(other.keyId).toBe(free.view.id);

    const view = (await h.request('GET', '/v1/workspaces/beta/envelope', undefined, admin)).body;
    expect(view.keys).toEqual([expect.objectContaining({ id: made.body.id, name: 'capped', envelope: { maxTokensPerDay: 600 } })]);
    const capSpent = view.keys[0].today.spentTokens as number;
    expect(capSpent).toBeLessThanOrEqual(600);
    // The workspace's envelope counted both keys' calls, and its cost (gpt-4o has a price).
    expect(view.today.spentTokens).toBeGreaterThan(capSpent);
    expect(view.today.spentCostUsd).toBeGreaterThan(0);
    // A key sees its own envelope, not another key's.
    expect((await h.request('GET', '/v1/workspaces/beta/envelope', undefined, bearer(free.key))).body.keys).toEqual([]);
    const listed = (await h.request('GET', '/v1/keys?workspace=beta', undefined, admin)).body.keys as { id: string; envelope?: unknown }[];
    expect(listed.find((k) => k.id === made.body.id)?.envelope).toEqual({ maxTokensPerDay: 600 });
  });

  it('is set from the CLI at creation, and listed with the key', async () => {
    const env = { ...process.env, REDIS_URL, SWITCHYARD_PREFIX: h.prefix };
    const cli = (...args: string[]) => exec('node', [...nodeArgs('src/cli/keys.ts'), ...args], { env });
    const { stdout } = await cli('create', '--workspace', 'gamma', '--scopes', 'runs:write', '--max-cost-usd-per-day', '5', '--max-tokens-per-day', '200000');
    expect(stdout).toContain('may spend $5 a day and 200000 tokens a day');
    const id = stdout.trim().split('\n').at(-1)!.slice(3, 15);
    // `keys list` prints what the store lists.
    const listed = await h.system.keys.list('gamma');
    expect(listed.find((k) => k.id === id)?.envelope).toEqual({ maxCostUsdPerDay: 5, maxTokensPerDay: 200000 });
  });
});

describe('reservations against an envelope', () => {
  it('are leases: one whose worker died expires and no longer counts, and a run’s end gives its reservations back', async () => {
    expect((await h.request('PUT', '/v1/workspaces/delta/envelope', { maxTokensPerDay: 1000 }, admin)).status).toBe(200);
    const delta = bearer((await h.system.keys.create({ workspace: 'delta', scopes: ['runs:write', 'runs:read'] })).key);
    // No worker serves `idle`: the run stays live while the test reserves for it as its calls would.
    const id = await submit({ workflow: 'parked', input: {} }, delta);
    const scope = h.system.scope('delta');
    const now = Date.now();
    const envelopes = { day: utcDay(now), resetsAt: new Date(now + 60_000).toISOString() };
    const lease = (tokens: number, leaseMs: number) => ({ tokens, costUsd: 0, owner: { stepId: 'p', attempt: 1 }, lease: randomUUID(), leaseMs, envelopes });
    const reserve = (r: ReturnType<typeof lease>) => h.system.engine.store.budgets.reserveBudget(scope, id, r);
    // A worker that reserved and died: its lease never settles.
    expect(await reserve(lease(700, 150))).toEqual({ refused: '', held: [undefined] });
    const kept = lease(200, 60_000);
    expect((await reserve(kept)).refused).toBe('');
    expect((await reserve(lease(200, 60_000))).refused).toMatch(
      /^wait workspace delta's daily token envelope 1000 \(spent 0, in flight 900, this call about 200\)$/,
    );
    expect((await h.request('GET', '/v1/workspaces/delta/envelope', undefined, delta)).body.today.reservedTokens).toBe(900);
    await new Promise((r) => setTimeout(r, 200));
    // Expired, the dead worker's reservation is not counted (nor shown).
    expect((await h.request('GET', '/v1/workspaces/delta/envelope', undefined, delta)).body.today.reservedTokens).toBe(200);
    expect((await reserve(lease(700, 60_000))).refused).toBe('');
    // The run's end releases what its calls hold against the envelope at once.
    expect((await h.request('POST', `/v1/runs/${id}/cancel`, {}, delta)).status).toBe(200);
    expect((await h.request('GET', '/v1/workspaces/delta/envelope', undefined, delta)).body.today).toMatchObject({ reservedTokens: 0, spentTokens: 0 });
    expect(await h.system.engine.redis.zcard(keys.envelopeLeases(scope, undefined, envelopes.day))).toBe(0);
  });
});

describe('the envelope API', () => {
  it('refuses before anything is written: no run, no job, no fair turn, the idempotency key free again; a cost envelope refuses a model without a price (422)', async () => {
    const redis = h.system.engine.store.redis;
    const zeta = bearer((await h.system.keys.create({ workspace: 'zeta', scopes: ['runs:write', 'runs:read'] })).key);
    const scope = h.system.scope('zeta');
    const queue = h.system.agentQueue('unpriced');
    const nothingWritten = async () => {
      expect(await redis.zcard(keys.runIndex(scope))).toBe(0);
      expect(await queue.getJobCounts('waiting', 'prioritized', 'delayed')).toEqual({ waiting: 0, prioritized: 0, delayed: 0 });
      expect(await redis.exists(keys.fairTurns(scope, 'agent.unpriced'))).toBe(0);
    };
    const task = { agent: 'unpriced', input: { task: 'never run' }, idempotencyKey: 'zeta-once' };
    expect((await h.request('PUT', '/v1/workspaces/zeta/envelope', { maxCostUsdPerDay: 5 }, admin)).status).toBe(200);
    const unpriced = await h.request('POST', '/v1/runs', task, zeta);
    expect(unpriced.status).toBe(422);
    expect(unpriced.body.error.message).toMatch(
      /^workspace zeta's daily cost envelope cannot be held: no price is known for model "house-model-1" \(agent "unpriced"\)/,
    );
    await nothingWritten();

    // Spent: a day's counter at the limit.
    const day = keys.envelopeDay(scope, undefined, utcDay(Date.now()));
    expect((await h.request('PUT', '/v1/workspaces/zeta/envelope', { maxTokensPerDay: 10 }, admin)).status).toBe(200);
    await redis.hset(day, 'spentTokens', 10);
    const spent = await h.request('POST', '/v1/runs', task, zeta);
    expect(spent.status).toBe(429);
    await nothingWritten();

    // The refused requests held no idempotency key: the same request is a new run once there is room.
    await redis.hset(day, 'spentTokens', 9);
    const accepted = await h.request('POST', '/v1/runs', task, zeta);
    expect(accepted.status).toBe(202);
    expect(accepted.body.created).not.toBe(false);
    expect(await redis.zcard(keys.runIndex(scope))).toBe(1);
    expect(await queue.getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 1, prioritized: 0 });
    await h.request('POST', `/v1/runs/${accepted.body.id}/cancel`, undefined, zeta);
    expect((await h.request('DELETE', '/v1/workspaces/zeta/envelope', undefined, admin)).status).toBe(200);
  });

  it('answers bad input with a 422 naming the problem, a missing scope with 403, another workspace with 404', async () => {
    const bad = async (body: unknown, path = '/v1/workspaces/acme/envelope') => {
      const res = await h.request('PUT', path, body, admin);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      return res.body.error.message as string;
    };
    expect(await bad({})).toContain('must set maxTokensPerDay or maxCostUsdPerDay');
    expect(await bad({ maxTokensPerDay: -5 })).toContain('maxTokensPerDay');
    expect(await bad({ maxTokensPerDay: 1.5 })).toContain('maxTokensPerDay');
    expect(await bad({ maxCostUsdPerDay: 'five' })).toContain('maxCostUsdPerDay');
    expect(await bad({ maxTokensPerDay: 10, perMonth: 3 })).toContain('perMonth');
    expect(await bad({ maxTokensPerDay: 10 }, '/v1/workspaces/Not%20One/envelope')).toContain('id');
    const key = await h.request('POST', '/v1/keys', { workspace: 'acme', scopes: 'runs:read', maxCostUsdPerDay: 0 }, admin);
    expect(key.status).toBe(422);
    expect(key.body.error.message).toContain('maxCostUsdPerDay');

    const acme = bearer((await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key);
    const put = await h.request('PUT', '/v1/workspaces/acme/envelope', { maxTokensPerDay: 10 }, acme);
    expect(put.status).toBe(403);
    expect(put.body.error.message).toContain('"admin"');
    expect((await h.request('DELETE', '/v1/workspaces/acme/envelope', undefined, acme)).status).toBe(403);
    const other = await h.request('GET', '/v1/workspaces/beta/envelope', undefined, acme);
    expect(other.status).toBe(404);
    expect(JSON.stringify(other.body)).not.toContain('100000');
    expect((await h.request('GET', '/v1/workspaces/acme/envelope', undefined, acme)).status).toBe(200);
  });
});
