/**
 * The vendor table: every provider name has its folder's vendor (checked by the compiler), each
 * builds an adapter that answers under its own name, a remote vendor's key comes from a variable
 * the configuration reads, and its errors are read by its own SDK's classes only.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EnvSchema, loadConfig } from '../../src/config/env.js';
import { ProviderName } from '../../src/model/agent.js';
import { resolveAgents } from '../../src/agents/registry.js';
import { createProvider, VENDORS, type Vendor } from '../../src/calls/vendors/index.js';
import { anthropic } from '../../src/calls/vendors/anthropic/index.js';
import { openai } from '../../src/calls/vendors/openai/index.js';

describe('the vendor table', () => {
  it('has one vendor per provider name, and a name without one does not compile', () => {
    expectTypeOf(VENDORS).toEqualTypeOf<Readonly<Record<ProviderName, Vendor>>>();
    // @ts-expect-error -- echo's line is missing: the table must name every provider.
    const missing: Readonly<Record<ProviderName, Vendor>> = { anthropic, openai };
    expect(Object.keys(missing)).toHaveLength(2);
    // @ts-expect-error -- a line for a provider the enum does not name does not compile either.
    const extra: Readonly<Record<ProviderName, Vendor>> = { ...VENDORS, mistral: openai };
    expect(Object.keys(extra)).toContain('mistral');
    expect(Object.keys(VENDORS).sort()).toEqual([...ProviderName.options].sort());
  });

  it.each(ProviderName.options)('builds a %s adapter that answers under its own name', (provider) => {
    const p = createProvider({ provider, name: 'a', apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', structured: 'auto', echo: { latencyMs: 0 } });
    expect(p.name).toBe(provider);
  });

  it('reads a remote vendor’s key from a variable the configuration reads, and an offline one needs none', () => {
    for (const [name, vendor] of Object.entries(VENDORS)) {
      if (!vendor.remote) {
        expect(name).toBe('echo');
        continue;
      }
      expect(Object.keys(EnvSchema.shape)).toContain(vendor.remote.keyEnv);
    }
    const config = loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-x', OPENAI_BASE_URL: 'http://localhost:11434/v1' });
    const registry = resolveAgents(
      { agents: { a: { provider: 'anthropic', model: 'claude-x' }, o: { provider: 'openai', model: 'llama' }, e: { provider: 'echo' } } },
      config,
      'test',
    );
    expect(registry.require('a')).toMatchObject({ provider: 'anthropic', apiKey: 'sk-ant-x' });
    // The openai vendor is reached with a base URL alone (a self-hosted compatible server).
    expect(registry.require('o')).toMatchObject({ provider: 'openai', baseURL: 'http://localhost:11434/v1' });
    expect(registry.require('o').apiKey).toBeUndefined();
    expect(registry.require('e').fallbackReason).toBeUndefined();
    // Without its key, an anthropic agent stands in on echo, named why.
    const keyless = resolveAgents({ agents: { a: { provider: 'anthropic', model: 'claude-x' } } }, loadConfig({}), 'test');
    expect(keyless.require('a')).toMatchObject({ provider: 'echo', fallbackReason: 'ANTHROPIC_API_KEY is not set' });
  });

  it('reads each SDK’s errors with that vendor only', () => {
    const anthropic429 = new Anthropic.RateLimitError(
      429,
      { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
      undefined,
      new Headers(),
    );
    const openai429 = new OpenAI.RateLimitError(429, { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' }, undefined, new Headers());
    expect(VENDORS.anthropic.errors?.read(anthropic429)).toMatchObject({ kind: 'api', status: 429, types: ['rate_limit_error'], message: 'slow down' });
    expect(VENDORS.openai.errors?.read(anthropic429)).toBeUndefined();
    expect(VENDORS.openai.errors?.read(openai429)).toMatchObject({
      kind: 'api',
      status: 429,
      types: ['requests', 'rate_limit_exceeded'],
      message: 'slow down',
    });
    expect(VENDORS.anthropic.errors?.read(openai429)).toBeUndefined();
    expect(VENDORS.anthropic.errors?.read(new Anthropic.APIConnectionError({ message: 'refused' }))).toEqual({ kind: 'connection', message: 'refused' });
    expect(VENDORS.openai.errors?.read(new OpenAI.APIUserAbortError())).toMatchObject({ kind: 'aborted' });
    expect(VENDORS.echo.errors).toBeUndefined();
  });
});
