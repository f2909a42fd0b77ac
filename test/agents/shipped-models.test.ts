/**
 * The shipped agents (agents.yaml) use models the installed SDKs list and do not mark
 * deprecated, each with a price (a cost budget holds on every shipped agent). The Anthropic
 * SDK's deprecation tables (`DEPRECATED_MODELS`, model → end-of-life date) and model lists are
 * read from the installed package itself, so an SDK upgrade that deprecates a shipped model
 * fails this test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentsFile } from '../../src/agents/registry.js';
import { loadConfig } from '../../src/config/env.js';

const require = createRequire(import.meta.url);
const sdkDir = (pkg: string) => dirname(require.resolve(pkg));

/** Every file under `dir` whose name ends with `ext`. */
function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => join(dir, f));
}

/** The models of every `DEPRECATED_MODELS = {...}` table in the installed Anthropic SDK, with their end-of-life dates. */
function anthropicDeprecated(): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of filesUnder(sdkDir('@anthropic-ai/sdk'), '.mjs')) {
    const text = readFileSync(file, 'utf8');
    for (const table of text.matchAll(/DEPRECATED_MODELS = \{([^}]*)\}/g)) {
      for (const [, model, date] of table[1]!.matchAll(/'([^']+)':\s*'([^']+)'/g)) out.set(model!, date!);
    }
  }
  return out;
}

/** The model names a union type of the SDK lists (`export type Model = 'a' | 'b' | (string & {})`). */
function listedModels(pkg: string, file: string, type: string): Set<string> {
  const text = readFileSync(join(sdkDir(pkg), file), 'utf8');
  const union = new RegExp(`export type ${type} = ([^;]*);`).exec(text)?.[1] ?? '';
  return new Set([...union.matchAll(/'([^']+)'/g)].map((m) => m[1]!));
}

const registry = loadAgentsFile('agents.yaml', loadConfig({ ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k' }), {});
const shipped = registry
  .list()
  .flatMap((a) => [
    { agent: a.name, provider: a.provider, model: a.model },
    ...(a.fallbacks ?? []).map((f) => ({ agent: `${a.name} (fallback)`, provider: f.provider, model: f.model })),
  ]);

describe('the shipped agents’ models', () => {
  it('reads the installed Anthropic SDK’s deprecation table', () => {
    // The table this test relies on is there (it listed claude-sonnet-4-5 when this was written).
    expect(anthropicDeprecated().size).toBeGreaterThan(0);
  });

  it('none is one the installed Anthropic SDK marks deprecated (past or nearing end of life)', () => {
    const deprecated = anthropicDeprecated();
    const found = shipped.filter((s) => deprecated.has(s.model)).map((s) => `${s.agent}: ${s.model} (end of life ${deprecated.get(s.model)})`);
    expect(found).toEqual([]);
  });

  it('each is a model its installed SDK lists', () => {
    const anthropic = listedModels('@anthropic-ai/sdk', 'resources/messages/messages.d.mts', 'Model');
    const openai = listedModels('openai', 'resources/shared.d.mts', 'ChatModel');
    expect(anthropic.size).toBeGreaterThan(0);
    expect(openai.size).toBeGreaterThan(0);
    const unlisted = shipped.filter((s) => (s.provider === 'anthropic' && !anthropic.has(s.model)) || (s.provider === 'openai' && !openai.has(s.model)));
    expect(unlisted).toEqual([]);
    expect(shipped.filter((s) => s.provider !== 'echo').length).toBeGreaterThan(0);
  });

  it('each has a price, so a cost budget holds on every shipped agent', () => {
    expect(shipped.filter((s) => s.provider !== 'echo' && !registry.prices.priceOf(s.model))).toEqual([]);
  });
});
