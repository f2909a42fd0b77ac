/**
 * Workspace secrets at rest, on the real Redis: each value sealed for its workspace and name;
 * after the secrets key rotates the old values still open, and `reencrypt` (and `npm run
 * secrets -- reencrypt`) reseals them under the new key, leaving alone a value set meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Keyring, keyIdOf } from '../../src/agents/keyring.js';
import { UnreadableSecretError, WorkspaceSecrets } from '../../src/agents/workspace-secrets.js';
import { keys } from '../../src/store/keys.js';
import { scopeOf } from '../../src/store/scope.js';
import { SecretRecords } from '../../src/store/secret-records.js';
import { cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';
import { secretsCli } from '../helpers/secrets-cli.js';

const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const PLAIN = `sk-secret-${randomBytes(8).toString('hex')}`;
const prefix = testPrefix('ws-secrets');
const cell = { tag: prefix };
const redis = newRedis();
const under = (secrets: { key: string; oldKeys: string[] }) =>
  new WorkspaceSecrets({ records: new SecretRecords(redis), keyring: new Keyring(secrets), scope: (ws) => scopeOf(cell, ws) });
const sealedOf = async (ws: string, name: string) => (JSON.parse((await redis.hget(keys.secrets(scopeOf(cell, ws)), name))!) as { sealed: string }).sealed;
const idOf = (key: string) => keyIdOf(Buffer.from(key, 'base64'));

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('workspace secrets at rest', () => {
  it('reseals every workspace’s secrets under the new key; the old key can then go', async () => {
    const first = under({ key: OLD, oldKeys: [] });
    await first.set(scopeOf(cell, 'acme'), 'A', PLAIN);
    await first.set(scopeOf(cell, 'beta'), 'B', `${PLAIN}-b`);
    expect(Keyring.keyIdOf(await sealedOf('acme', 'A'))).toBe(idOf(OLD));

    const rotating = under({ key: NEW, oldKeys: [OLD] });
    expect(await rotating.lookup('acme', 'A')).toBe(PLAIN);
    expect(await rotating.reencrypt(cell)).toEqual({ resealed: 2, current: 0, skipped: 0, failed: [] });
    expect(Keyring.keyIdOf(await sealedOf('beta', 'B'))).toBe(idOf(NEW));
    expect(await rotating.reencrypt(cell)).toEqual({ resealed: 0, current: 2, skipped: 0, failed: [] });

    expect(await under({ key: NEW, oldKeys: [] }).lookup('beta', 'B')).toBe(`${PLAIN}-b`);
    const err = await under({ key: OLD, oldKeys: [] })
      .lookup('acme', 'A')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreadableSecretError);
    expect((err as Error).message).not.toContain(PLAIN);
  });

  it('leaves alone a value set after it was read', async () => {
    const records = new SecretRecords(redis);
    const s = scopeOf(cell, 'acme');
    const read = await sealedOf('acme', 'A');
    await under({ key: NEW, oldKeys: [] }).set(s, 'A', 'newer');
    expect(await records.swap(s, 'A', read, { sealed: 'x', updatedAt: 'y' })).toBe(false);
    expect(await under({ key: NEW, oldKeys: [] }).lookup('acme', 'A')).toBe('newer');
  });

  it('npm run secrets -- reencrypt reseals them from a shell', { timeout: 30_000 }, async () => {
    const newest = randomBytes(32).toString('base64');
    const done = await secretsCli(prefix, { SWITCHYARD_SECRETS_KEY: newest, SWITCHYARD_SECRETS_OLD_KEYS: NEW }, 'reencrypt');
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ keyId: idOf(newest), resealed: 2, current: 0, skipped: 0, failed: [] });
    expect(done.stdout + done.stderr).not.toContain(PLAIN);
    expect(Keyring.keyIdOf(await sealedOf('beta', 'B'))).toBe(idOf(newest));
  });
});
