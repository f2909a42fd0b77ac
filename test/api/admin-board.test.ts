/**
 * Bull Board and /metrics are for `admin` credentials (a bearer header, or the cookie its login
 * sets); every engine queue is read-only (its write endpoints answer 405 and change nothing);
 * jobs link to their runs, and a cancelled step does not read as a plain success.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardJobName } from '../../src/api/routes/admin.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
let admin: Record<string, string>;
let user: Record<string, string>;

beforeAll(async () => {
  h = await startHarness({
    name: 'admin-board',
    agents: { a: { provider: 'echo' } },
    workflows: [{ name: 'nightly', schedule: { cron: '0 0 1 1 *' }, steps: [{ id: 'tick', agent: 'a', input: { task: 'tick' } }] }],
    env: { SWITCHYARD_KEEP_COMPLETED_JOBS: '100' },
  });
  await h.system.schedules.syncFromFlows(h.system.scope());
  admin = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] })).key}` };
  user = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key}` };
});

afterAll(async () => {
  await h?.system.scheduleQueue.removeJobScheduler('flow.nightly').catch(() => undefined);
  await h?.close();
  assertAllClosed();
});

describe('Bull Board', () => {
  it('answers 401 without a credential (a browser is sent to the login page) and 403 without admin', async () => {
    expect((await h.request('GET', '/admin/queues/api/queues')).status).toBe(401);
    const page = await fetch(`${h.baseUrl}/admin/queues`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin/login');
    const res = await h.request('GET', '/admin/queues/api/queues', undefined, user);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('"admin"');
  });

  it('shows every engine queue, read-only, to an admin bearer', async () => {
    const res = await h.request('GET', '/admin/queues/api/queues?activeQueue=schedules&status=latest&page=1', undefined, admin);
    expect(res.status).toBe(200);
    const queues = res.body.queues as { name: string; readOnlyMode: boolean }[];
    expect(queues.map((q) => q.name).sort()).toEqual(['agent.a', 'control', 'conversations', 'refs', 'runs', 'schedules', 'webhooks']);
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
  });

  it('answers 405 to its write endpoints on engine queues, and the flows schedule stays', async () => {
    const writes: [string, string, unknown?][] = [
      ['PUT', '/admin/queues/api/queues/schedules/job-schedulers/flow.nightly/remove'],
      ['PUT', '/admin/queues/api/queues/schedules/job-schedulers/flow.nightly/run'],
      ['PUT', '/admin/queues/api/queues/agent.a/retry/failed'],
      ['PUT', '/admin/queues/api/queues/agent.a/clean/completed'],
      ['PUT', '/admin/queues/api/queues/agent.a/promote'],
      ['PUT', '/admin/queues/api/queues/agent.a/pause'],
      ['PUT', '/admin/queues/api/queues/agent.a/empty'],
      ['PUT', '/admin/queues/api/queues/agent.a/obliterate'],
      ['PUT', '/admin/queues/api/queues/agent.a/concurrency', { concurrency: 1 }],
      ['POST', '/admin/queues/api/queues/agent.a/add'],
      ['PUT', '/admin/queues/api/queues/agent.a/somejob/retry'],
      ['PUT', '/admin/queues/api/queues/agent.a/somejob/promote'],
    ];
    for (const [method, path, body] of writes) {
      const res = await fetch(`${h.baseUrl}${path}`, { method, headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
      expect(res.status, `${method} ${path}`).toBe(405);
    }
    expect(await h.system.scheduleQueue.getJobScheduler('flow.nightly')).toBeTruthy();
    expect(await h.system.agentQueue('a').isPaused()).toBe(false);
  });

  it('links a job to its run and names a cancelled step as such', async () => {
    const run = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'hi' } }, admin);
    await poll(async () => (await h.request('GET', `/v1/runs/${run.body.id}`, undefined, admin)).body.status === 'succeeded');
    const res = await h.request('GET', '/admin/queues/api/queues?activeQueue=agent.a&status=completed&page=1', undefined, admin);
    const jobs = (res.body.queues as { name: string; jobs: { id: string; name: string; externalUrl?: { href: string } }[] }[]).find(
      (q) => q.name === 'agent.a',
    )!.jobs;
    const real = jobs.find((j) => j.id.startsWith(run.body.id));
    expect(real?.externalUrl?.href).toBe(`/runs/${run.body.id}`);
    expect(real?.name).toBe('a');
    // A step job the step machine ended cancelled or skipped (BullMQ counts it completed) says so.
    expect(boardJobName({ name: 'step', returnvalue: { stepId: 's', status: 'cancelled' } })).toBe('step (cancelled)');
    expect(boardJobName({ name: 'step', returnvalue: { stepId: 's', status: 'skipped' } })).toBe('step (skipped)');
    expect(boardJobName({ name: 'step', returnvalue: { stepId: 's', status: 'succeeded' } })).toBe('step');
  });

  it('logs in through a form: the session cookie opens the board to an admin, and the run pages to any key that reads runs', async () => {
    const login = async (authorization: string, next?: string) =>
      fetch(`${h.baseUrl}/admin/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `key=${encodeURIComponent(authorization.slice(7))}${next ? `&next=${encodeURIComponent(next)}` : ''}`,
        redirect: 'manual',
      });
    const scheduler = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'acme', scopes: ['schedules:write'] })).key}` };
    expect((await login(scheduler.authorization)).status).toBe(403);
    const done = await login(admin.authorization!);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/admin/queues');
    const cookie = done.headers.get('set-cookie')!;
    expect(cookie).toMatch(/sy_session=[A-Za-z0-9_-]{43}; .*Path=\/; .*HttpOnly/);
    expect(cookie).not.toContain(admin.authorization!.slice(7));
    const session = { cookie: cookie.split(';')[0]! };
    expect((await h.request('GET', '/admin/queues/api/queues', undefined, session)).status).toBe(200);
    expect((await h.request('POST', '/admin/logout', undefined, session)).status).toBe(204);
    expect((await h.request('GET', '/admin/queues/api/queues', undefined, session)).status).toBe(401);

    // A key that reads runs: back to the page it came from (only a page of this server), the board still refused.
    const reader = await login(user.authorization!, '/runs?status=failed');
    expect(reader.status).toBe(303);
    expect(reader.headers.get('location')).toBe('/runs?status=failed');
    expect((await login(user.authorization!, 'https://elsewhere.example/')).headers.get('location')).toBe('/admin/queues');
    const readerSession = { cookie: reader.headers.get('set-cookie')!.split(';')[0]! };
    expect((await h.request('GET', '/admin/queues/api/queues', undefined, readerSession)).status).toBe(403);
    const me = await h.request('GET', '/v1/me', undefined, readerSession);
    expect(me.body).toEqual({ kind: 'session', workspace: 'acme', scopes: ['runs:write', 'runs:read'] });
    // A change made with the cookie needs the pages' header: a form on another site cannot send it.
    const bare = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 't' } }, readerSession);
    expect(bare.status).toBe(403);
    expect(bare.body.error.message).toContain('x-switchyard-page');
    const fromPage = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 't' } }, { ...readerSession, 'x-switchyard-page': '1' });
    expect(fromPage.status).toBe(202);
    // Its run (in acme) ends before the harness closes.
    await poll(async () => (await h.request('GET', `/v1/runs/${fromPage.body.id}`, undefined, user)).body.status === 'succeeded');
  });

  it('ends a session when the key that opened it is revoked', async () => {
    const made = await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] });
    const login = await fetch(`${h.baseUrl}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `key=${made.key}`,
      redirect: 'manual',
    });
    const session = { cookie: login.headers.get('set-cookie')!.split(';')[0]! };
    expect((await h.request('GET', '/admin/queues/api/queues', undefined, session)).status).toBe(200);
    await h.system.keys.revoke(made.view.id);
    const after = await h.request('GET', '/admin/queues/api/queues', undefined, session);
    expect(after.status).toBe(401);
    expect(after.body.error.message).toContain('revoked');
  });
});

describe('/metrics', () => {
  it('needs an admin credential', async () => {
    expect((await h.request('GET', '/metrics')).status).toBe(401);
    expect((await h.request('GET', '/metrics', undefined, user)).status).toBe(403);
    const res = await fetch(`${h.baseUrl}/metrics`, { headers: admin });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE');
  });
});

async function poll(done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await done()); i++) await new Promise((r) => setTimeout(r, 25));
}
