/**
 * The shipped examples as a new user meets them: agents.yaml without any API key (every agent
 * on the echo provider) and every workflow of flows/ run offline, end to end. Each run
 * succeeds with an output, no step waits for a rate limit (echo answers are not limited), and
 * the examples do what their descriptions promise (every competitor monitored, the reviewed
 * code as the output, the research posted to a webhook: a local HTTP server here).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { parseWorkflowYaml } from '../../src/compile/loader.js';
import { startFakeLlmServer, structuredReply } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FLOWS = readdirSync(path.join(ROOT, 'flows'))
  .filter((f) => f.endsWith('.yaml'))
  .map(
    (f) =>
      parseWorkflowYaml(readFileSync(path.join(ROOT, 'flows', f), 'utf8'), f) as {
        name: string;
        input?: Record<string, { type: string; default?: unknown; required?: boolean }>;
      },
  );
const COMPETITORS = ['Acme Analytics', 'Globex AI', 'Initech Cloud', 'Umbrella Data', 'Hooli Search'];

/** A value for every field a caller must give (those without a default). */
function sampleInput(fields: Record<string, { type: string; default?: unknown; required?: boolean }> = {}): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    if (f.default !== undefined || f.required === false) continue;
    input[name] = { string: `sample ${name}`, array: COMPETITORS, number: 1, boolean: false, object: {} }[f.type];
  }
  return input;
}

let h: Harness;
/** The webhook research-webhook posts to: it answers 202 with a receipt. */
let webhook: TestServer;
/** Inputs an example needs besides sample values (a URL that answers). */
const inputOf = (name: string): Record<string, unknown> => (name === 'research-webhook' ? { webhookUrl: `${webhook.url}/hooks/research` } : {});
const runs = new Map<string, RunView>();
const AGENTS_FILE = parseYaml(readFileSync(path.join(ROOT, 'agents.yaml'), 'utf8')) as {
  agents: Record<string, Record<string, unknown>>;
  pricing?: Record<string, unknown>;
  providers?: Record<string, unknown>;
};
const agentsFile = {
  agents: AGENTS_FILE.agents,
  ...(AGENTS_FILE.pricing ? { pricing: AGENTS_FILE.pricing } : {}),
  ...(AGENTS_FILE.providers ? { providers: AGENTS_FILE.providers } : {}),
};

beforeAll(async () => {
  webhook = await startTestServer();
  webhook.handle((_req, res, nth) => json(res, 202, { received: true, receipt: `r-${nth}` }));
  h = await startHarness({ name: 'examples', ...agentsFile, workflows: FLOWS });
  const ids = await Promise.all(
    FLOWS.map(async (wf) => {
      const res = await h.request('POST', '/v1/runs', { workflow: wf.name, input: { ...sampleInput(wf.input), ...inputOf(wf.name) } });
      expect(res.status, `${wf.name}: ${JSON.stringify(res.body)}`).toBe(202);
      return [wf.name, res.body.id as string] as const;
    }),
  );
  for (const [name, id] of ids) runs.set(name, await h.waitForRun(id, 20_000));
}, 60_000);

afterAll(async () => {
  await h?.close();
  await webhook?.close();
  assertAllClosed();
});

describe('every shipped workflow, offline', () => {
  it.each(FLOWS.map((f) => f.name))('%s succeeds with an output and no step waits for a rate limit', async (name) => {
    const run = runs.get(name)!;
    expect(run.status, JSON.stringify(run.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
    expect(run.output).not.toBeNull();
    if (run.output !== null && typeof run.output === 'object' && !Array.isArray(run.output)) {
      // An output made of several steps' outputs: none of them missing.
      for (const [step, value] of Object.entries(run.output)) expect(value, `${name} output.${step}`).not.toBeNull();
    }
    const retried = (await h.system.engine.store.events.read(h.system.scope(), run.id)).filter((e) => e.type === 'step.retrying');
    expect(retried.map((e) => [e.stepId, e.data])).toEqual([]);
  });

  it('weekly-competitor-monitoring researches every competitor it is given, five of five', () => {
    const run = runs.get('weekly-competitor-monitoring')!;
    const researched = run.steps.filter((s) => s.agent === 'research' && s.status === 'succeeded').map((s) => JSON.stringify(s.input));
    expect(researched).toHaveLength(COMPETITORS.length);
    for (const c of COMPETITORS)
      expect(
        researched.filter((r) => r.includes(c)),
        c,
      ).toHaveLength(1);
    const report = JSON.stringify(run.steps.find((s) => s.stepId === 'report')!.input);
    for (const c of COMPETITORS) expect(report, c).toContain(c);
  });

  it('code-with-review answers with the code: the first draft when the review approves it', () => {
    const run = runs.get('code-with-review')!;
    const step = (id: string) => run.steps.find((s) => s.stepId === id)!;
    // Offline, echo's structured review answers with the first value of `verdict`: approved.
    expect(step('review').output).toMatchObject({ verdict: 'approved' });
    expect(step('fix').status).toBe('skipped');
    expect(run.output).toBe(step('write').output);
  });

  it('research-webhook posts the research to the webhook, once, and answers with the webhook’s JSON', () => {
    const run = runs.get('research-webhook')!;
    const research = run.steps.find((s) => s.stepId === 'research')!.output as string;
    expect(webhook.received).toHaveLength(1);
    const [sent] = webhook.received;
    expect(sent).toMatchObject({ method: 'POST', url: '/hooks/research' });
    expect(sent!.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': `${run.id}.notify`, 'x-switchyard-topic': 'sample topic' });
    expect(JSON.parse(sent!.body)).toEqual({ topic: 'sample topic', findings: research });
    expect(run.output).toEqual({ received: true, receipt: 'r-1' });
  });
});

describe('code-with-review with a review that asks for changes', () => {
  it('answers with the fix', async () => {
    const fake = await startFakeLlmServer();
    const withKeys = await startHarness({ name: 'examples-fix', fake, ...agentsFile, workflows: FLOWS.filter((f) => f.name === 'code-with-review') });
    try {
      fake.respondWith((r) =>
        r.prompt.startsWith('Review this code') ? structuredReply(r, { verdict: 'needs_changes', comments: 'handle a null callback' }) : undefined,
      );
      const res = await withKeys.request('POST', '/v1/runs', { workflow: 'code-with-review', input: { task: 'a debounce function' } });
      const run = await withKeys.waitForRun(res.body.id, 20_000);
      const step = (id: string) => run.steps.find((s) => s.stepId === id)!;
      expect(run.status).toBe('succeeded');
      expect(step('fix').status).toBe('succeeded');
      expect(run.output).toBe(step('fix').output);
      expect(run.output).toContain('Revise the code to address the review.');
    } finally {
      await withKeys.close();
      await fake.close();
    }
  });
});
