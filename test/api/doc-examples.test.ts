/**
 * The request bodies the README and the guides show (`curl ... -d '<json>'`) stay true: each is
 * JSON, fits the schema of the route it is sent to, and names only agents of the shipped
 * agents file and workflows of flows/. An example whose shown answer is an error only has to
 * be JSON (it is there to show the error). The answers themselves were taken from `npm start`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  AgentBody,
  AgentChanges,
  AgentTestBody,
  ChatMulti,
  FeedbackBody,
  GateDecisionBody,
  RerunBody,
  SubmitAgentRun,
  SubmitCapabilityRun,
  SubmitPatternRun,
  SubmitWorkflowRun,
} from '../../src/api/schemas.js';
import { ScheduleBody } from '../../src/schedules/schedules-service.js';
import { CreateKeyBody } from '../../src/api/admin-schemas.js';
import { WorkspaceLimitsUpdate } from '../../src/model/workspace-limits.js';
import { Envelope } from '../../src/model/envelope.js';
import { CreateSession, SessionMessageBody } from '../../src/api/session-schemas.js';
import { SecretSet } from '../../src/model/workspace-secret.js';
import { WebhookCreate } from '../../src/model/webhook.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const PAGES = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const AGENTS = new Set(Object.keys((parseYaml(readFileSync(path.join(ROOT, 'agents.yaml'), 'utf8')) as { agents: object }).agents));
const FLOWS = new Set(
  readdirSync(path.join(ROOT, 'flows'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => (parseYaml(readFileSync(path.join(ROOT, 'flows', f), 'utf8')) as { name: string }).name),
);

interface Example {
  page: string;
  method: string;
  route: string;
  body: string;
  /** The answer shown after it is an error. */
  showsError: boolean;
}

/** Every `curl ... -d '...'` of the shell blocks of a page, with the answer shown after it. */
function examplesOf(page: string): Example[] {
  const text = readFileSync(path.join(ROOT, page), 'utf8');
  const blocks = [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  return blocks.flatMap((block) =>
    block
      .split(/(?=\bcurl\s)/)
      .slice(1)
      .flatMap((command) => {
        const body = /\s-d\s+'([^']*)'/.exec(command);
        const url = /localhost:3000(\/[^\s'"]*)/.exec(command);
        if (!body || !url) return [];
        const after = command.slice(body.index + body[0].length).split(/^\$ /m)[0]!;
        return [{ page, method: /-X\s+(\w+)/.exec(command)?.[1] ?? 'POST', route: url[1]!, body: body[1]!, showsError: after.includes('"error":') }];
      }),
  );
}

/** The schemas a route's body must fit (one of them). */
function schemasFor(method: string, route: string): z.ZodType[] | undefined {
  if (method === 'POST' && route === '/v1/runs') return [SubmitAgentRun, SubmitCapabilityRun, SubmitWorkflowRun, SubmitPatternRun];
  if (method === 'POST' && route === '/v1/chat/multi') return [ChatMulti];
  if (method === 'POST' && route === '/v1/sessions') return [CreateSession];
  if (method === 'POST' && /^\/v1\/sessions\/[^/]+\/messages$/.test(route)) return [SessionMessageBody];
  if (method === 'POST' && /^\/v1\/runs\/[^/]+\/rerun$/.test(route)) return [RerunBody];
  if (method === 'POST' && /^\/v1\/runs\/[^/]+\/steps\/[^/]+\/feedback$/.test(route)) return [FeedbackBody];
  if (method === 'POST' && /^\/v1\/runs\/[^/]+\/steps\/[^/]+\/(approve|reject)$/.test(route)) return [GateDecisionBody];
  if (method === 'PUT' && /^\/v1\/schedules\/[^/]+$/.test(route)) return [ScheduleBody];
  if (method === 'POST' && route === '/v1/agents') return [AgentBody];
  if (method === 'PATCH' && /^\/v1\/agents\/[^/]+$/.test(route)) return [AgentChanges];
  if (method === 'POST' && /^\/v1\/agents\/[^/]+\/test$/.test(route)) return [AgentTestBody];
  if (method === 'POST' && route === '/v1/keys') return [CreateKeyBody];
  if (method === 'PUT' && /^\/v1\/workspaces\/[^/]+\/limits$/.test(route)) return [WorkspaceLimitsUpdate];
  if (method === 'PUT' && /^\/v1\/workspaces\/[^/]+\/envelope$/.test(route)) return [Envelope];
  if (method === 'PUT' && /^\/v1\/workspaces\/[^/]+\/secrets\/[^/]+$/.test(route)) return [SecretSet];
  if (method === 'POST' && route === '/v1/webhooks') return [WebhookCreate];
  return undefined;
}

/** Every agent and workflow a body names (`agent`, `agents`, a `workflow` by name), anywhere in it. */
function namesIn(value: unknown, found: { agents: string[]; workflows: string[] } = { agents: [], workflows: [] }) {
  if (Array.isArray(value)) for (const v of value) namesIn(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'agent' && typeof v === 'string') found.agents.push(v);
      else if (k === 'agents' && Array.isArray(v)) found.agents.push(...v.filter((a): a is string => typeof a === 'string'));
      else if (k === 'workflow' && typeof v === 'string') found.workflows.push(v);
      namesIn(v, found);
    }
  }
  return found;
}

const EXAMPLES = PAGES.flatMap(examplesOf);

describe('the request bodies shown in the docs', () => {
  it('are found on the pages (the README and the guides show requests)', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(20);
    expect(new Set(EXAMPLES.map((e) => e.page))).toContain('README.md');
  });

  it.each(EXAMPLES.map((e) => [`${e.page}: ${e.method} ${e.route} ${e.body.slice(0, 60)}`, e] as const))('%s', (_name, e) => {
    const body: unknown = JSON.parse(e.body);
    if (e.showsError) return;
    const schemas = schemasFor(e.method, e.route.split('?')[0]!);
    expect(schemas, `no schema known for ${e.method} ${e.route}`).toBeDefined();
    const fits = schemas!.map((s) => s.safeParse(body));
    expect(
      fits.some((r) => r.success),
      fits.map((r) => r.error?.message).join('\n'),
    ).toBe(true);
    const { agents, workflows } = namesIn(body);
    for (const a of agents) expect(AGENTS, `agent "${a}"`).toContain(a);
    for (const w of workflows) expect(FLOWS, `workflow "${w}"`).toContain(w);
  });
});
