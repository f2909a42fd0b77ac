/**
 * Webhook secrets across a rotation of SWITCHYARD_SECRETS_KEY, on the real Redis with a real
 * BullMQ delivery worker and a local receiver: a subscription and a run's own webhook sealed
 * under the old key are resealed by `reencryptWebhooks` (and `npm run secrets -- reencrypt`)
 * under the new one, the run's webhook keeping its time to live; once the old key is dropped
 * their deliveries are still signed with the same secrets. A webhook deleted or changed
 * meanwhile is left alone; one no configured key opens is named, never shown.
 */
import { randomBytes } from 'node:crypto';
import { Queue, type Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, keyIdOf } from '../../src/agents/keyring.js';
import { silentLogger } from '../../src/logger.js';
import { createOutbound } from '../../src/net/outbound.js';
import { keys, WEBHOOK_QUEUE } from '../../src/store/keys.js';
import { scopeOf } from '../../src/store/scope.js';
import { WebhookRecords, type WebhookRecord } from '../../src/store/webhook-records.js';
import type { DeliveryJob } from '../../src/webhooks/delivery-job.js';
import { startDeliveryWorker } from '../../src/webhooks/delivery-worker.js';
import { reencryptWebhooks } from '../../src/webhooks/reseal.js';
import { verifySignature } from '../../src/webhooks/signature.js';
import { Webhooks } from '../../src/webhooks/webhooks.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { poll } from '../helpers/poll.js';
import { cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';
import { secretsCli } from '../helpers/secrets-cli.js';

const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const RUN_SECRET = `whsec_run_${randomBytes(12).toString('hex')}`;
const prefix = testPrefix('webhook-reseal');
const cell = { tag: prefix };
const acme = scopeOf(cell, 'acme');
const beta = scopeOf(cell, 'beta');
const redis = newRedis();
const records = new WebhookRecords(redis);
const idOf = (key: string) => keyIdOf(Buffer.from(key, 'base64'));
const keyring = (key: string, oldKeys: string[] = []) => new Keyring({ key, oldKeys });

let receiver: TestServer;
let queue: Queue<DeliveryJob>;
let worker: Worker<DeliveryJob> | undefined;
let subscription: { id: string; secret?: string };

const webhooksUnder = (k: Keyring) =>
  new Webhooks({ records, keyring: k, queue, egress: { production: false, allow: [] }, runOf: () => Promise.resolve({ scheduleId: null, error: null }) });
const sealedOf = async (scope: typeof acme, id: string) => (await records.get(scope, id))!.sealed!;

beforeAll(async () => {
  receiver = await startTestServer();
  queue = new Queue<DeliveryJob>(WEBHOOK_QUEUE, { connection: redis, prefix });
  // Made under the old key: a subscription of acme (its secret made and shown once) and a run's own webhook of beta.
  const old = webhooksUnder(keyring(OLD));
  subscription = await old.create(acme, { url: `${receiver.url}/acme`, events: ['run.finished'] });
  await old.sealRun(beta, { url: `${receiver.url}/beta`, secret: RUN_SECRET, events: ['run.finished'] })('r1');
});

afterAll(async () => {
  await worker?.close();
  await queue?.close();
  await receiver?.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('webhook secrets across a key rotation', () => {
  it('reseals the subscriptions and runs’ own webhooks under the new key; deliveries are signed with the same secrets once the old key is gone', async () => {
    expect(Keyring.keyIdOf(await sealedOf(acme, subscription.id))).toBe(idOf(OLD));
    const rotating = keyring(NEW, [OLD]);
    expect(await reencryptWebhooks({ records, keyring: rotating }, cell)).toEqual({ resealed: 2, current: 0, skipped: 0, failed: [] });
    expect(Keyring.keyIdOf(await sealedOf(acme, subscription.id))).toBe(idOf(NEW));
    expect(Keyring.keyIdOf(await sealedOf(beta, 'run-r1'))).toBe(idOf(NEW));
    // The run's webhook keeps its week to live; nothing else of the records changed.
    expect(await redis.ttl(keys.runWebhook(beta, 'r1'))).toBeGreaterThan(6 * 24 * 3600);
    expect(await records.get(beta, 'run-r1')).toMatchObject({ id: 'run-r1', url: `${receiver.url}/beta`, events: ['run.finished'] });
    expect(await reencryptWebhooks({ records, keyring: rotating }, cell)).toEqual({ resealed: 0, current: 2, skipped: 0, failed: [] });

    // The old key dropped: the delivery worker opens the resealed secrets with the new key alone.
    const current = keyring(NEW);
    worker = startDeliveryWorker(
      {
        records,
        keyring: current,
        outbound: createOutbound({ egress: { production: false, allow: [] } }),
        scope: (ws) => scopeOf(cell, ws),
        logger: silentLogger,
      },
      { connection: redis, prefix },
    );
    const now = webhooksUnder(current);
    const finished = (runId: string) => ({ id: `${runId}.run.finished`, type: 'run.finished' as const, runId, data: { status: 'succeeded' } });
    expect(await now.notify(acme, finished('a1'))).toBe(1);
    expect(await now.notify(beta, finished('r1'))).toBe(1);
    await poll(
      'both deliveries received',
      () => Promise.resolve(receiver.received.length),
      (n) => n >= 2,
    );
    const byPath = new Map(receiver.received.map((r) => [r.url, r]));
    const signedWith = (url: string, secret: string) =>
      verifySignature(secret, String(byPath.get(url)!.headers['x-switchyard-signature']), byPath.get(url)!.body);
    expect(signedWith('/acme', subscription.secret!)).toBe(true);
    expect(signedWith('/beta', RUN_SECRET)).toBe(true);
    const outcomes = async (scope: typeof acme, id: string) => (await records.deliveries(scope, id)).map((d) => d.outcome);
    await poll(
      'both deliveries recorded',
      async () => [...(await outcomes(acme, subscription.id)), ...(await outcomes(beta, 'run-r1'))],
      (o) => o.length === 2,
    );
    expect([...(await outcomes(acme, subscription.id)), ...(await outcomes(beta, 'run-r1'))]).toEqual(['delivered', 'delivered']);
  });

  it('leaves alone a webhook deleted or resealed after it was read, and names one no key opens without showing it', async () => {
    const newest = randomBytes(32).toString('base64');
    const read = (await records.get(acme, subscription.id))!;
    const next: WebhookRecord = { ...read, sealed: keyring(newest).seal(subscription.secret!, `webhook:acme/${subscription.id}`) };
    // Another reseal got there first: this one is not written over it.
    expect(await records.swap(acme, 'v1.elsewhere', next)).toBe(false);
    expect(await sealedOf(acme, subscription.id)).toBe(read.sealed);
    // A run's webhook gone meanwhile (expired) is not written back.
    const run = (await records.get(beta, 'run-r1'))!;
    await redis.del(keys.runWebhook(beta, 'r1'));
    expect(await records.swap(beta, run.sealed!, run)).toBe(false);
    expect(await redis.exists(keys.runWebhook(beta, 'r1'))).toBe(0);

    // Under a key that has never seen NEW: the subscription's secret does not open.
    const lost = await reencryptWebhooks({ records, keyring: keyring(newest) }, cell);
    expect(lost).toMatchObject({ resealed: 0, current: 0, skipped: 0 });
    expect(lost.failed).toEqual([expect.stringMatching(new RegExp(`^webhook:acme/${subscription.id}: sealed under key ${idOf(NEW)}`))]);
    expect(JSON.stringify(lost)).not.toContain(subscription.secret!);
  });

  it('npm run secrets -- reencrypt reseals them from a shell', { timeout: 30_000 }, async () => {
    const newest = randomBytes(32).toString('base64');
    await webhooksUnder(keyring(NEW)).sealRun(beta, { url: `${receiver.url}/beta`, secret: RUN_SECRET })('r2');
    const done = await secretsCli(prefix, { SWITCHYARD_SECRETS_KEY: newest, SWITCHYARD_SECRETS_OLD_KEYS: NEW }, 'reencrypt');
    expect(done.code, done.stderr).toBe(0);
    // The subscription and r2's webhook (r1's was deleted above); no agents or secrets under this prefix.
    expect(JSON.parse(done.stdout)).toEqual({ keyId: idOf(newest), resealed: 2, current: 0, skipped: 0, failed: [] });
    expect(done.stdout + done.stderr).not.toContain(RUN_SECRET);
    expect(Keyring.keyIdOf(await sealedOf(beta, 'run-r2'))).toBe(idOf(newest));
    expect(Keyring.keyIdOf(await sealedOf(acme, subscription.id))).toBe(idOf(newest));
  });
});
