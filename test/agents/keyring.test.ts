/**
 * Provider keys at rest (AES-256-GCM under SWITCHYARD_SECRETS_KEY) and their rotation: a value
 * opens only for the agent it was sealed for, under a key the process knows; after a new
 * current key is added the old values still open, and `reencrypt` (and `npm run secrets --
 * reencrypt`) moves them to the new key id, on the real Redis.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, keyIdOf, NoSecretsKeyError, SealedValueError } from '../../src/agents/keyring.js';
import { resolveAgents } from '../../src/agents/registry.js';
import { WorkspaceAgents } from '../../src/agents/workspace-agents.js';
import { loadConfig } from '../../src/config/env.js';
import { ConfigError } from '../../src/errors/index.js';
import { AgentRecords } from '../../src/store/agent-records.js';
import { keys } from '../../src/store/keys.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import { thrownBy } from '../helpers/errors.js';
import { cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';
import { secretsCli } from '../helpers/secrets-cli.js';

const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const PLAIN = `sk-rotate-${randomBytes(8).toString('hex')}`;

describe('Keyring', () => {
  const ring = new Keyring({ key: OLD, oldKeys: [] });

  it('seals with a random IV under the current key id, and opens for the same agent only', () => {
    const a = ring.seal(PLAIN, 'acme/helper');
    const b = ring.seal(PLAIN, 'acme/helper');
    expect(a).not.toBe(b);
    expect(a).not.toContain(PLAIN);
    expect(Keyring.keyIdOf(a)).toBe(keyIdOf(Buffer.from(OLD, 'base64')));
    expect(ring.open(a, 'acme/helper')).toBe(PLAIN);
    expect(thrownBy(SealedValueError, () => ring.open(a, 'other/helper')).message).toMatch(/does not open/);
  });

  it('refuses an altered value, an unknown key id, and sealing without a key', () => {
    const sealed = ring.seal(PLAIN, 'acme/helper');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0]! ^= 1;
    parts[3] = body.toString('base64url');
    expect(() => ring.open(parts.join('.'), 'acme/helper')).toThrow(SealedValueError);
    const other = new Keyring({ key: NEW, oldKeys: [] });
    const err = thrownBy(SealedValueError, () => other.open(sealed, 'acme/helper'));
    expect(err.message).toMatch(/neither SWITCHYARD_SECRETS_KEY nor one of SWITCHYARD_SECRETS_OLD_KEYS/);
    expect(err.message).not.toContain(PLAIN);
    expect(() => new Keyring({ key: undefined, oldKeys: [OLD] }).seal(PLAIN, 'x')).toThrow(NoSecretsKeyError);
  });

  it('a bad SWITCHYARD_SECRETS_KEY stops start-up, naming the variable but not its value', () => {
    const err = thrownBy(ConfigError, () => loadConfig({ SWITCHYARD_SECRETS_KEY: 'c2hvcnQ=' }));
    expect(err.message).toMatch(/SWITCHYARD_SECRETS_KEY: must be 32 bytes in base64/);
    expect(err.message).not.toContain('c2hvcnQ=');
    expect(thrownBy(ConfigError, () => loadConfig({ SWITCHYARD_SECRETS_OLD_KEYS: `${OLD},nope` })).message).toMatch(/SWITCHYARD_SECRETS_OLD_KEYS/);
    expect(loadConfig({ SWITCHYARD_SECRETS_KEY: NEW, SWITCHYARD_SECRETS_OLD_KEYS: ` ${OLD} ` }).secrets).toEqual({ key: NEW, oldKeys: [OLD] });
  });
});

describe('rotating the secrets key', () => {
  const prefix = testPrefix('keyring');
  const cell = cellOf(prefix);
  const scope = scopeOf(cell, 'acme');
  const config = loadConfig({ SWITCHYARD_PREFIX: prefix });
  const shared = resolveAgents({ agents: { plain: { provider: 'echo' } } }, config, 'test');
  let redis: Redis;
  const agentsUnder = (secrets: { key: string | undefined; oldKeys: string[] }) =>
    new WorkspaceAgents({ records: new AgentRecords(redis), shared, keyring: new Keyring(secrets), config });
  const sealedKey = async () => JSON.parse((await redis.hget(keys.agents(scope), 'helper'))!).sealedKey as string;

  beforeAll(async () => {
    redis = newRedis();
    await agentsUnder({ key: OLD, oldKeys: [] }).create(scope, { name: 'helper', provider: 'openai', model: 'gpt-4o-mini', apiKey: PLAIN });
  });

  afterAll(async () => {
    await cleanupPrefix(redis, prefix);
    await redis.quit();
  });

  it('old values still open once a new current key is added; reencrypt moves them to the new key id', async () => {
    expect(Keyring.keyIdOf(await sealedKey())).toBe(keyIdOf(Buffer.from(OLD, 'base64')));
    const rotating = agentsUnder({ key: NEW, oldKeys: [OLD] });
    expect((await rotating.registryFor(scope)).require('helper').apiKey).toBe(PLAIN);

    expect(await rotating.reencrypt(cell)).toEqual({ resealed: 1, current: 0, skipped: 0, failed: [] });
    expect(Keyring.keyIdOf(await sealedKey())).toBe(keyIdOf(Buffer.from(NEW, 'base64')));
    expect(await rotating.reencrypt(cell)).toEqual({ resealed: 0, current: 1, skipped: 0, failed: [] });

    // The old key can go: the new one alone opens it; the old one alone no longer does.
    expect((await agentsUnder({ key: NEW, oldKeys: [] }).registryFor(scope)).require('helper').apiKey).toBe(PLAIN);
    const stale = (await agentsUnder({ key: OLD, oldKeys: [] }).registryFor(scope)).require('helper');
    expect(stale).toMatchObject({ provider: 'echo', fallbackReason: expect.stringMatching(/does not open/) });
    expect(JSON.stringify(stale)).not.toContain(PLAIN);
  });

  it('npm run secrets -- reencrypt does the same from a shell', { timeout: 30_000 }, async () => {
    const newest = randomBytes(32).toString('base64');
    const cli = (env: Record<string, string>, ...args: string[]) => secretsCli(prefix, env, ...args);
    const done = await cli({ SWITCHYARD_SECRETS_KEY: newest, SWITCHYARD_SECRETS_OLD_KEYS: NEW }, 'reencrypt');
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ keyId: keyIdOf(Buffer.from(newest, 'base64')), resealed: 1, current: 0, skipped: 0, failed: [] });
    expect(done.stdout + done.stderr).not.toContain(PLAIN);
    expect(Keyring.keyIdOf(await sealedKey())).toBe(keyIdOf(Buffer.from(newest, 'base64')));
    expect(await cli({}, 'reencrypt')).toMatchObject({ code: 2, stderr: expect.stringMatching(/SWITCHYARD_SECRETS_KEY is not set/) });
    expect(await cli({ SWITCHYARD_SECRETS_KEY: newest }, 'rotate')).toMatchObject({ code: 2 });
  });
});
