/**
 * The audit log: submissions, cancels, reruns, approvals, schedule changes, keys made and
 * revoked, and refused credentials are recorded with who, when and from where; GET /v1/audit
 * (admins) filters them; each entry reaches the system of record through the outbox.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { AuditEntry } from '../../src/model/audit.js';
import type { StepRecord } from '../../src/model/run.js';
import { OutboxConsumer } from '../../src/outbox/outbox-consumer.js';
import type { ResultSink, WriteMeta } from '../../src/outbox/sink.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { REFUSALS_PER_SECOND } from '../../src/api/audit.js';

class AuditSink implements ResultSink {
  readonly audits = new Map<string, AuditEntry>();
  /** The workspace each step record was written with. */
  readonly stepWorkspaces = new Map<string, string | undefined>();
  async writeRun(): Promise<void> {}
  async writeStep(doc: StepRecord, meta?: WriteMeta): Promise<void> {
    this.stepWorkspaces.set(doc.runId, meta?.workspaceId);
  }
  async writeAudit(doc: AuditEntry): Promise<void> {
    this.audits.set(doc.id, doc);
  }
  async writeConversation(): Promise<void> {}
  async close(): Promise<void> {}
}

let h: Harness;
let consumer: OutboxConsumer;
const sink = new AuditSink();
let admin: Record<string, string>;
let acme: Record<string, string>;
let acmeKeyId: string;

beforeAll(async () => {
  h = await startHarness({
    name: 'audit',
    outbox: true,
    agents: { a: { provider: 'echo' } },
    workflows: [
      { name: 'gated', steps: [{ id: 'gate', kind: 'approval' }] },
      { name: 'ticker', steps: [{ id: 'tick', agent: 'a', input: { task: 'tick' } }] },
    ],
  });
  consumer = new OutboxConsumer({ redis: h.system.engine.store.redis, cell: h.system.cell, sink, logger: silentLogger, blockMs: 200 });
  await consumer.start();
  admin = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] })).key}` };
  const made = await h.request('POST', '/v1/keys', { workspace: 'acme', scopes: ['runs:write', 'runs:read', 'schedules:write'] }, admin);
  acme = { authorization: `Bearer ${made.body.key}` };
  acmeKeyId = made.body.id;
});

afterAll(async () => {
  await h?.system.schedules.remove(h.system.scope('acme'), 'nightly').catch(() => undefined);
  await consumer?.stop();
  await h?.close();
  assertAllClosed();
});

describe('the audit log', () => {
  it('records who did what, when and from where, and serves it to admins only, filtered', async () => {
    const run = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'hi' } }, acme);
    await poll(
      'run done',
      async () => (await h.request('GET', `/v1/runs/${run.body.id}`, undefined, acme)).body.status,
      (s) => s === 'succeeded',
    );
    const rerun = await h.request('POST', `/v1/runs/${run.body.id}/rerun`, { fromStep: 'a' }, acme);
    const gated = await h.request('POST', '/v1/runs', { workflow: 'gated' }, acme);
    await poll(
      'gate waits',
      async () => (await h.request('GET', `/v1/runs/${gated.body.id}`, undefined, acme)).body.status,
      (s) => s === 'waiting',
    );
    await h.request('POST', `/v1/runs/${gated.body.id}/steps/gate/approve`, { by: 'alice' }, acme);
    const other = await h.request('POST', '/v1/runs', { workflow: 'gated' }, acme);
    await h.request('POST', `/v1/runs/${other.body.id}/cancel`, {}, acme);
    await h.request('PUT', '/v1/schedules/nightly', { workflow: 'ticker', cron: '0 0 1 1 *' }, acme);
    await h.request('GET', '/v1/runs', undefined, { authorization: 'Bearer sy_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' });
    await h.request('DELETE', `/v1/keys/${acmeKeyId}`, undefined, admin);

    expect((await h.request('GET', '/v1/audit', undefined, acme)).status).toBe(401); // revoked by now
    const all = await h.request('GET', '/v1/audit', undefined, admin);
    expect(all.status).toBe(200);
    const entries = all.body.entries as AuditEntry[];
    const seen = entries.map((e) => `${e.action} ${e.target ?? ''}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        `key.created ${acmeKeyId}`,
        `run.submitted ${run.body.id}`,
        `run.rerun ${rerun.body.id}`,
        `approval.given ${gated.body.id}.gate`,
        `run.cancelled ${other.body.id}`,
        'schedule.changed nightly',
        'credential.refused GET /v1/runs',
        `key.revoked ${acmeKeyId}`,
      ]),
    );
    // Newest first (the revoked key refused last), each with its actor (never a credential) and address.
    expect(entries[0]).toMatchObject({ action: 'credential.refused', actor: { kind: 'key', id: acmeKeyId }, target: 'GET /v1/audit' });
    expect(entries[1]!.action).toBe('key.revoked');
    const submitted = entries.find((e) => e.action === 'run.submitted')!;
    expect(submitted).toMatchObject({ workspace: 'acme', actor: { kind: 'key', id: acmeKeyId } });
    expect(submitted.ip).toMatch(/127\.0\.0\.1/);
    expect(entries.find((e) => e.target === 'GET /v1/runs' && e.action === 'credential.refused')).toMatchObject({
      actor: { kind: 'key', id: 'aaaaaaaaaaaa' },
      details: { status: 401 },
    });
    expect(JSON.stringify(entries)).not.toContain(acme.authorization!.slice(7));

    const filtered = await h.request('GET', '/v1/audit?workspace=acme&action=run.submitted&limit=1', undefined, admin);
    expect(filtered.body.entries).toHaveLength(1);
    expect(filtered.body.next).toBeDefined();
    const page2 = await h.request('GET', `/v1/audit?workspace=acme&action=run.submitted&limit=5&before=${filtered.body.next}`, undefined, admin);
    expect(page2.body.entries.length).toBeGreaterThanOrEqual(1);
    expect(page2.body.entries.every((e: AuditEntry) => e.action === 'run.submitted' && e.id !== filtered.body.entries[0].id)).toBe(true);
    const bad = await h.request('GET', '/v1/audit?action=run.exploded', undefined, admin);
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('action');

    // Every entry reaches the system of record through the outbox.
    await poll(
      'audit entries in the sink',
      async () => sink.audits.size,
      (n) => n >= entries.length,
      { timeoutMs: 20_000 },
    );
    for (const e of entries) expect(sink.audits.get(e.id)).toEqual(e);
    // Step records reach it with their workspace (MongoDB documents are scoped).
    await poll(
      'step records in the sink',
      async () => sink.stepWorkspaces.get(run.body.id),
      (ws) => ws !== undefined,
      { timeoutMs: 20_000 },
    );
    expect(sink.stepWorkspaces.get(run.body.id)).toBe('acme');
  });
});

describe('a flood of refused credentials', () => {
  it('records at most the cap per second one by one, and counts the rest into the next entry', async () => {
    const before = (await h.system.audit.list({ action: 'credential.refused', limit: 1000 })).entries.length;
    const t0 = Date.now();
    const burst = await Promise.all(Array.from({ length: 60 }, () => h.request('GET', '/v1/stats', undefined, { authorization: 'Bearer nonsense' })));
    expect(burst.every((r) => r.status === 401)).toBe(true);
    const seconds = Math.floor(Date.now() / 1000) - Math.floor(t0 / 1000) + 1;
    const during = (await h.system.audit.list({ action: 'credential.refused', limit: 1000 })).entries.length - before;
    // At most the cap for each second the burst touched (a slow machine spreads it over several).
    expect(during).toBeLessThanOrEqual(seconds * REFUSALS_PER_SECOND);
    // The cap counts per wall-clock second: the next refusal, in the next second, is recorded.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 10));
    await h.request('GET', '/v1/stats', undefined, { authorization: 'Bearer nonsense' });
    const all = (await h.system.audit.list({ action: 'credential.refused', limit: 1000 })).entries;
    const mine = all.slice(0, all.length - before);
    // Every refusal is accounted for: an entry of its own, or counted in a later one.
    expect(mine.length + mine.reduce((n, e) => n + Number(e.details?.unrecorded ?? 0), 0)).toBe(61);
  });
});
