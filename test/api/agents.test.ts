/**
 * What GET /v1/agents shows: no API key, nor the variable it is read from, a base URL as its
 * host and path only (credentials or a key in it left out), and system prompts only when asked
 * for (`?include=prompts`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAgents } from '../../src/agents/registry.js';
import { loadConfig } from '../../src/config/env.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

const PROMPT = 'You are the in-house model. Internal codename: bluebird.';
const AGENTS = {
  // A self-hosted OpenAI-compatible server: a base URL is enough, and this one carries credentials.
  local: { provider: 'openai', model: 'llama-3', baseURL: 'https://svc:pa55word@llm.internal.example/v1?api_key=sk-in-query#frag', systemPrompt: PROMPT },
  plain: { provider: 'echo', systemPrompt: 'Be brief.' },
};

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ name: 'api-agents', agents: AGENTS, pools: false });
  // The list reads the workspace's own agents from Redis: without workers nothing else waits for its connection.
  await poll(
    'the API connection',
    () => h.system.ping(),
    (up) => up,
  );
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

describe('GET /v1/agents', () => {
  it('shows a base URL as its host and path, without the credentials or key it carries, and no prompts', async () => {
    const res = await h.request('GET', '/v1/agents');
    expect(res.status).toBe(200);
    const local = res.body.agents.find((a: { name: string }) => a.name === 'local');
    expect(local).toMatchObject({ name: 'local', provider: 'openai', model: 'llama-3', baseURL: 'https://llm.internal.example/v1' });
    expect(local.systemPrompt).toBeUndefined();
    const text = JSON.stringify(res.body);
    for (const secret of ['pa55word', 'svc', 'sk-in-query', 'bluebird', 'Be brief']) expect(text).not.toContain(secret);
  });

  it('adds the system prompts with ?include=prompts', async () => {
    const res = await h.request('GET', '/v1/agents?include=prompts');
    expect(res.status).toBe(200);
    expect(Object.fromEntries(res.body.agents.map((a: { name: string; systemPrompt: string }) => [a.name, a.systemPrompt]))).toEqual({
      local: PROMPT,
      plain: 'Be brief.',
    });
    expect(JSON.stringify(res.body)).not.toContain('pa55word');
  });

  it('answers 422 for anything else to include, or another query parameter', async () => {
    const bad = await h.request('GET', '/v1/agents?include=keys');
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0].path).toMatch(/^query\.include/);
    expect((await h.request('GET', '/v1/agents?verbose=1')).status).toBe(422);
  });
});

describe('AgentRegistry.toPublic', () => {
  it('leaves out the key, the variable it comes from, and the credentials of the base URL', () => {
    const registry = resolveAgents(
      {
        agents: {
          groq: {
            provider: 'openai',
            model: 'llama-3.3-70b',
            apiKeyEnv: 'GROQ_API_KEY',
            baseURL: 'https://user:pw@api.groq.com/openai/v1',
            systemPrompt: 'secret prompt',
          },
        },
      },
      loadConfig({}),
      'inline',
      { GROQ_API_KEY: 'gsk-secret-1' },
    );
    expect(registry.require('groq')).toMatchObject({ apiKey: 'gsk-secret-1', apiKeyEnv: 'GROQ_API_KEY' });
    const [shown] = registry.toPublic();
    expect(shown).toMatchObject({ name: 'groq', provider: 'openai', baseURL: 'https://api.groq.com/openai/v1' });
    expect(shown).not.toHaveProperty('apiKeyEnv');
    expect(shown).not.toHaveProperty('apiKey');
    expect(shown).not.toHaveProperty('systemPrompt');
    expect(JSON.stringify(registry.toPublic({ prompts: true }))).not.toMatch(/gsk-secret-1|GROQ_API_KEY|user:pw/);
    expect(registry.toPublic({ prompts: true })[0]!.systemPrompt).toBe('secret prompt');
  });
});
