/** loadConfig: defaults, and errors that name the offending variable. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { ConfigError } from '../../src/errors/index.js';
import { thrownBy } from '../helpers/errors.js';

const configError = (env: Record<string, string>): ConfigError => thrownBy(ConfigError, () => loadConfig(env));

describe('loadConfig', () => {
  it('starts with sensible defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', port: 3000, agentsFile: './agents.yaml', requireKeys: false, maxPauseMs: 300_000 });
    expect(loadConfig({ SWITCHYARD_MAX_PAUSE_MS: '60000' }).maxPauseMs).toBe(60_000);
    expect(configError({ SWITCHYARD_MAX_PAUSE_MS: '10' }).message).toContain('SWITCHYARD_MAX_PAUSE_MS');
    expect(config.providers.anthropic.apiKey).toBeUndefined();
    expect(config.mongodbUri).toBeUndefined();
    // A lost worker's steps go on within lock + stalled interval: 30 s at most by default.
    expect(config.stalled).toEqual({ lockDuration: 20_000, stalledInterval: 10_000 });
    expect(config.heartbeatMs).toBe(5_000);
  });

  it('reads the stalled-check timing and the heartbeat', () => {
    const config = loadConfig({ SWITCHYARD_LOCK_DURATION_MS: '4000', SWITCHYARD_STALLED_INTERVAL_MS: '500', SWITCHYARD_HEARTBEAT_MS: '250' });
    expect(config).toMatchObject({ stalled: { lockDuration: 4000, stalledInterval: 500 }, heartbeatMs: 250 });
    expect(configError({ SWITCHYARD_LOCK_DURATION_MS: '10' }).message).toContain('SWITCHYARD_LOCK_DURATION_MS');
  });

  it('refuses a millisecond setting longer than a timer takes (it fired after 1 ms), naming it', () => {
    const tooLong = String(2 ** 31);
    for (const name of [
      'SWITCHYARD_SCHEMA_TIMEOUT_MS',
      'SWITCHYARD_SCHEMA_DEADLINE_MS',
      'SWITCHYARD_SHUTDOWN_TIMEOUT_MS',
      'SWITCHYARD_REDIS_WAIT_MS',
      'SWITCHYARD_LOCK_DURATION_MS',
      'SWITCHYARD_STALLED_INTERVAL_MS',
      'SWITCHYARD_HEARTBEAT_MS',
      'SWITCHYARD_MAX_PAUSE_MS',
    ]) {
      const err = configError({ [name]: tooLong });
      expect(err.issues.map((i) => i.path)).toEqual([name]);
      expect(err.message).toContain('2147483647');
    }
    expect(loadConfig({ SWITCHYARD_SCHEMA_TIMEOUT_MS: '2147483647' }).bounds.schemaTimeoutMs).toBe(2_147_483_647);
    // Expressions are walked recursively: their depth setting has a ceiling too.
    expect(configError({ SWITCHYARD_MAX_EXPRESSION_DEPTH: '100000' }).message).toContain('SWITCHYARD_MAX_EXPRESSION_DEPTH');
  });

  it('reads provider keys, base URLs and flags', () => {
    const config = loadConfig({
      ANTHROPIC_API_KEY: 'sk-ant',
      OPENAI_BASE_URL: 'http://localhost:11434/v1',
      SWITCHYARD_REQUIRE_KEYS: 'true',
      PORT: '8080',
    });
    expect(config.providers.anthropic.apiKey).toBe('sk-ant');
    expect(config.providers.openai.baseURL).toBe('http://localhost:11434/v1');
    expect(config.requireKeys).toBe(true);
    expect(config.port).toBe(8080);
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({ OPENAI_API_KEY: '', PORT: '' });
    expect(config.providers.openai.apiKey).toBeUndefined();
    expect(config.port).toBe(3000);
  });

  it('names the bad variable', () => {
    const err = configError({ REDIS_URL: 'http://localhost:6379' });
    expect(err.message).toContain('REDIS_URL');
    expect(err.message).toContain('redis://');
    expect(err.issues).toEqual([expect.objectContaining({ path: 'REDIS_URL' })]);
  });

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'eighty', OPENAI_BASE_URL: 'not a url', SWITCHYARD_REQUIRE_KEYS: 'yes', SWITCHYARD_PREFIX: 'a:b' });
    for (const name of ['PORT', 'OPENAI_BASE_URL', 'SWITCHYARD_REQUIRE_KEYS', 'SWITCHYARD_PREFIX']) {
      expect(err.message).toContain(name);
      expect(err.issues.map((i) => i.path)).toContain(name);
    }
  });

  it("reads each workspace's API request rate: 100 per second by default, bursts of twice the rate, 0 for no limit", () => {
    expect(loadConfig({}).apiRate).toEqual({ perSecond: 100, burst: 200 });
    expect(loadConfig({ SWITCHYARD_API_RATE_PER_WORKSPACE: '2.5' }).apiRate).toEqual({ perSecond: 2.5, burst: 5 });
    expect(loadConfig({ SWITCHYARD_API_RATE_PER_WORKSPACE: '0.1' }).apiRate).toEqual({ perSecond: 0.1, burst: 1 });
    expect(loadConfig({ SWITCHYARD_API_RATE_PER_WORKSPACE: '10', SWITCHYARD_API_BURST_PER_WORKSPACE: '50' }).apiRate).toEqual({ perSecond: 10, burst: 50 });
    expect(loadConfig({ SWITCHYARD_API_RATE_PER_WORKSPACE: '0' }).apiRate.perSecond).toBe(0);
    expect(configError({ SWITCHYARD_API_RATE_PER_WORKSPACE: '-1' }).message).toContain('SWITCHYARD_API_RATE_PER_WORKSPACE');
    expect(configError({ SWITCHYARD_API_BURST_PER_WORKSPACE: '0' }).message).toContain('SWITCHYARD_API_BURST_PER_WORKSPACE');
    expect(configError({ SWITCHYARD_API_BURST_PER_WORKSPACE: '1.5' }).message).toContain('SWITCHYARD_API_BURST_PER_WORKSPACE');
  });
});
