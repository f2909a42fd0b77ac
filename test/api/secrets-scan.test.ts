/**
 * No secret is written anywhere: after full runs submitted with an API key and with a JWT (and
 * a refused credential), every Redis key and value of the cell, every log line (debug level),
 * every event, every document sent to the system of record and every Bull Board answer is
 * scanned for the API keys, the bearer token, the JWT secret and the provider keys: none is there.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/logger.js';
import type { AuditEntry } from '../../src/model/audit.js';
import type { StepRecord } from '../../src/model/run.js';
import { OutboxConsumer } from '../../src/outbox/outbox-consumer.js';
import type { ResultSink, RunWrite } from '../../src/outbox/sink.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { readEventStream } from '../helpers/sse.js';
import { dumpKeys, newRedis } from '../helpers/redis.js';

const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;
const PROVIDER_KEYS = { openai: secret('sk-openai'), anthropic: secret('sk-ant') };
const JWT_SECRET = secret('jwt-secret-of-some-length');
const SECRETS_KEY = randomBytes(32).toString('base64');
const WORKSPACE_SECRET = secret('ws-secret-value');

class CapturingSink implements ResultSink {
  readonly docs: string[] = [];
  async writeRun(write: RunWrite): Promise<void> {
    this.docs.push(JSON.stringify(write));
  }
  async writeStep(doc: StepRecord): Promise<void> {
    this.docs.push(JSON.stringify(doc));
  }
  async writeAudit(doc: AuditEntry): Promise<void> {
    this.docs.push(JSON.stringify(doc));
  }
  async writeConversation(doc: unknown): Promise<void> {
    this.docs.push(JSON.stringify(doc));
  }
  async close(): Promise<void> {}
}

const lines: string[] = [];
const sink = new CapturingSink();
let fake: FakeLlmServer;
let h: Harness;
let consumer: OutboxConsumer;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  h = await startHarness({
    name: 'secrets-scan',
    fake,
    outbox: true,
    logger: createLogger('debug', { destination }),
    env: {
      OPENAI_API_KEY: PROVIDER_KEYS.openai,
      ANTHROPIC_API_KEY: PROVIDER_KEYS.anthropic,
      SWITCHYARD_JWT_SECRET: JWT_SECRET,
      SWITCHYARD_SECRETS_KEY: SECRETS_KEY,
    },
    agents: {
      gpt: { provider: 'openai', model: 'gpt-4o', attempts: 1 },
      claude: { provider: 'anthropic', model: 'claude-sonnet-4-5', attempts: 1 },
    },
    workflows: [
      {
        name: 'pair',
        input: { topic: { type: 'string' } },
        steps: [
          { id: 'draft', agent: 'gpt', input: { task: 'draft about {{input.topic}}' } },
          { id: 'review', agent: 'claude', dependsOn: ['draft'], input: { task: 'review {{steps.draft.output}}' } },
        ],
      },
    ],
  });
  consumer = new OutboxConsumer({ redis: h.system.engine.store.redis, cell: h.system.cell, sink, logger: silentLogger, blockMs: 200 });
  await consumer.start();
});

afterAll(async () => {
  await consumer?.stop();
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

it('finds no API key, bearer token, JWT secret, provider key or workspace secret in Redis, logs, events, archived documents or Bull Board', async () => {
  const apiKey = (await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key;
  const adminKey = (await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] })).key;
  const jwt = await new SignJWT({ workspace: 'acme', scope: 'runs:write runs:read' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(JWT_SECRET));
  const forged = `sy_${apiKey.slice(3, 15)}_${randomBytes(32).toString('base64url')}`;
  // A request logged the way express and pino-http shape it: its authorization header is redacted.
  h.system.logger.info({ req: { method: 'GET', headers: { authorization: `Bearer ${apiKey}`, cookie: `sy_session=${jwt}` } } }, 'request');

  const events: string[] = [];
  for (const credential of [apiKey, jwt]) {
    const auth = { authorization: `Bearer ${credential}` };
    const res = await h.request('POST', '/v1/runs', { workflow: 'pair', input: { topic: 'tea' } }, auth);
    expect(res.status).toBe(202);
    const stream = await readEventStream(h.baseUrl, res.body.id, auth);
    expect(stream.events.at(-1)?.data).toMatchObject({ data: { status: 'succeeded' } });
    events.push(JSON.stringify(stream.events));
    events.push(JSON.stringify((await h.request('GET', `/v1/runs/${res.body.id}?include=definition`, undefined, auth)).body));
  }
  expect((await h.request('GET', '/v1/runs', undefined, { authorization: `Bearer ${forged}` })).status).toBe(401);
  // A workspace secret set, read back (names only) and replaced over the API: audited, sealed.
  const admin = { authorization: `Bearer ${adminKey}` };
  expect((await h.request('PUT', '/v1/workspaces/acme/secrets/SEARCH_KEY', { value: WORKSPACE_SECRET }, admin)).status).toBe(201);
  expect((await h.request('PUT', '/v1/workspaces/acme/secrets/SEARCH_KEY', { value: `${WORKSPACE_SECRET}-2` }, admin)).status).toBe(200);
  events.push(JSON.stringify((await h.request('GET', '/v1/workspaces/acme/secrets', undefined, admin)).body));
  const board: string[] = [];
  for (const queue of ['agent.gpt', 'agent.claude', 'runs', 'control']) {
    const res = await h.request('GET', `/admin/queues/api/queues?activeQueue=${queue}&status=completed&page=1`, undefined, {
      authorization: `Bearer ${adminKey}`,
    });
    expect(res.status).toBe(200);
    board.push(JSON.stringify(res.body));
  }
  // Every entry delivered (runs, steps, audit entries).
  await poll(
    'outbox drained',
    async () => (await h.system.engine.store.redis.xpending(`${h.prefix}:outbox`, 'results'))[0],
    (n) => n === 0,
    { timeoutMs: 10_000 },
  );
  expect(sink.docs.length).toBeGreaterThan(4);

  const redis = newRedis();
  try {
    const dump = await dumpKeys(redis, h.prefix);
    expect(dump.size).toBeGreaterThan(10);
    const secrets = {
      apiKey,
      apiKeySecret: apiKey.slice(16),
      adminKey: adminKey.slice(16),
      forged: forged.slice(16),
      jwt,
      jwtSignature: jwt.split('.')[2]!,
      JWT_SECRET,
      SECRETS_KEY,
      WORKSPACE_SECRET,
      ...PROVIDER_KEYS,
    };
    const places = { redis: [...dump].flat().join('\n'), logs: lines.join(''), events: events.join(''), archive: sink.docs.join(''), board: board.join('') };
    expect(places.logs).toContain('run finished');
    for (const [place, text] of Object.entries(places))
      for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${name} found in ${place}`).toBe(false);
  } finally {
    await redis.quit();
  }
});

it('keeps prompts, inputs and outputs out of the logs when configured (SWITCHYARD_LOG_REDACT_CONTENT)', () => {
  const written: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      done();
    },
  });
  const fields = { runId: 'run_1', input: { task: 'my private prompt' }, step: { output: 'a private answer', prompt: 'private' }, entry: 'kind run doc {...}' };
  createLogger('info', { redactContent: true, destination }).info(fields, 'step done');
  createLogger('info', { destination }).info(fields, 'step done');
  const [redacted, plain] = written;
  expect(redacted).toContain('"runId":"run_1"');
  expect(redacted).not.toMatch(/private|kind run doc/);
  expect(plain).toContain('my private prompt');
});
