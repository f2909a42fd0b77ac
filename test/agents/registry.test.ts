/** Loading, validating and resolving the agents file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentsFile, resolveAgents } from '../../src/agents/registry.js';
import { loadConfig } from '../../src/config/env.js';
import { ConfigError, ValidationError } from '../../src/errors/index.js';
import { thrownBy } from '../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-agents-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeAgents(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

const noKeys = loadConfig({});
const SEED_AGENTS = ['research', 'planner', 'content', 'reporting', 'review', 'code', 'synthesizer', 'tp'];

const thrown = (fn: () => unknown): ConfigError => thrownBy(ConfigError, fn);

describe('the seed agents.yaml', () => {
  it('defines every seed agent, each falling back to echo on a machine without keys', () => {
    const registry = loadAgentsFile('agents.yaml', noKeys, {});
    expect(registry.names().sort()).toEqual([...SEED_AGENTS].sort());
    for (const agent of registry.list()) {
      expect(agent.provider).toBe('echo');
      expect(agent.model).toBe('echo');
      expect(['anthropic', 'openai']).toContain(agent.configuredProvider);
      expect(agent.fallbackReason).toMatch(/(ANTHROPIC|OPENAI)_API_KEY is not set/);
      expect(agent.echo.latencyMs).toBeLessThanOrEqual(100);
      expect(agent.capabilities.length).toBeGreaterThan(0);
      expect(agent.systemPrompt.length).toBeGreaterThan(50);
    }
  });

  it('uses the real providers when the keys are configured', () => {
    const config = loadConfig({ ANTHROPIC_API_KEY: 'sk-ant', OPENAI_API_KEY: 'sk-oai' });
    const registry = loadAgentsFile('agents.yaml', config, {});
    const research = registry.require('research');
    expect(research).toMatchObject({ provider: 'anthropic', configuredProvider: 'anthropic', model: 'claude-sonnet-4-6', apiKey: 'sk-ant' });
    expect(research.fallbackReason).toBeUndefined();
    expect(registry.list().some((a) => a.provider === 'openai' && a.apiKey === 'sk-oai')).toBe(true);
  });

  it('refuses to start without keys when SWITCHYARD_REQUIRE_KEYS is on, naming agent and variable', () => {
    const err = thrown(() => loadAgentsFile('agents.yaml', loadConfig({ SWITCHYARD_REQUIRE_KEYS: 'true' }), {}));
    expect(err.message).toContain('agent "research"');
    expect(err.message).toContain('ANTHROPIC_API_KEY');
    expect(err.message).toContain('OPENAI_API_KEY');
    expect(err.issues.map((i) => i.path)).toContain('agents.research');
  });
});

describe('resolveAgents', () => {
  it('reads a key from the variable named by apiKeyEnv, and a base URL from config or the agent', () => {
    const config = loadConfig({ OPENAI_BASE_URL: 'http://gateway.local/v1' });
    const registry = resolveAgents(
      {
        agents: {
          groq: { provider: 'openai', model: 'llama-3.1-8b', apiKeyEnv: 'GROQ_API_KEY', baseURL: 'https://api.groq.com/openai/v1' },
          local: { provider: 'openai', model: 'llama3' },
        },
      },
      config,
      'inline',
      { GROQ_API_KEY: 'gsk-1' },
    );
    expect(registry.require('groq')).toMatchObject({ provider: 'openai', apiKey: 'gsk-1', baseURL: 'https://api.groq.com/openai/v1' });
    // A keyless OpenAI-compatible server (Ollama, vLLM) is allowed when a base URL is set.
    expect(registry.require('local')).toMatchObject({ provider: 'openai', baseURL: 'http://gateway.local/v1' });
    expect(registry.require('local').apiKey).toBeUndefined();
  });

  it('names the missing apiKeyEnv variable when it falls back to echo', () => {
    const registry = resolveAgents({ agents: { a: { provider: 'anthropic', model: 'm', apiKeyEnv: 'TEAM_KEY' } } }, noKeys, 'inline', {});
    expect(registry.require('a')).toMatchObject({ provider: 'echo', model: 'echo', configuredProvider: 'anthropic', fallbackReason: 'TEAM_KEY is not set' });
  });

  it('gives echo agents the model "echo"', () => {
    expect(resolveAgents({ agents: { e: { provider: 'echo' } } }, noKeys, 'inline').require('e').model).toBe('echo');
  });

  it('names the file, the agent and the field of an invalid value', () => {
    const path = writeAgents('bad.yaml', 'agents:\n  research:\n    provider: echo\n    rateLimit: { max: lots, durationMs: 1000 }\n');
    const err = thrown(() => loadAgentsFile(path, noKeys, {}));
    expect(err.message).toContain(`${path}: agent "research": rateLimit.max: expected number`);
    expect(err.issues).toEqual([expect.objectContaining({ path: 'agents.research.rateLimit.max' })]);
  });

  it('reports every problem at once, including unknown fields, bad names and missing models', () => {
    const err = thrown(() =>
      resolveAgents({ agents: { 'Bad Name': { provider: 'echo' }, writer: { provider: 'openai', temprature: 1 } } }, noKeys, 'agents.yaml'),
    );
    expect(err.message).toMatch(/^agents\.yaml: /);
    expect(err.message).toContain('agent "Bad Name": invalid agent name');
    expect(err.message).toContain('agent "writer"');
    expect(err.message).toContain('temprature');
    expect(err.message).toContain('model: required for provider openai');
    expect(err.issues.length).toBeGreaterThanOrEqual(3);
  });

  it('names the file when it is missing or not YAML', () => {
    expect(thrown(() => loadAgentsFile(join(dir, 'nope.yaml'), noKeys, {})).message).toContain('nope.yaml');
    const broken = writeAgents('broken.yaml', 'agents:\n  a: [unclosed\n');
    expect(thrown(() => loadAgentsFile(broken, noKeys, {})).message).toContain(`${broken}: invalid YAML`);
  });
});

describe('AgentRegistry', () => {
  const registry = resolveAgents(
    { agents: { research: { provider: 'anthropic', model: 'm' }, review: { provider: 'echo' } } },
    loadConfig({ ANTHROPIC_API_KEY: 'sk-secret-123' }),
    'inline',
  );

  it('finds agents by name and returns undefined for unknown ones', () => {
    expect(registry.get('research')?.name).toBe('research');
    expect(registry.get('nobody')).toBeUndefined();
    expect(registry.names()).toEqual(['research', 'review']);
  });

  it('rejects an unknown agent with the list of known ones', () => {
    expect(() => registry.require('nobody')).toThrow(ValidationError);
    expect(() => registry.require('nobody')).toThrow(/research, review/);
  });

  it('never exposes API keys in its public view', () => {
    expect(registry.require('research').apiKey).toBe('sk-secret-123');
    expect(JSON.stringify(registry.toPublic())).not.toContain('sk-secret-123');
    expect(registry.toPublic()).toHaveLength(2);
  });
});
