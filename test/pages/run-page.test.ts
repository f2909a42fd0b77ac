/**
 * The run pages in a real browser (Debian's Chromium driven by playwright-core) against a real
 * Switchyard: real Redis, real workers, the real Anthropic SDK against the fake LLM server. The
 * browser logs in through /admin/login with an API key, and everything after reads the API
 * with the session cookie. Screenshots go to test-artifacts/ (git-ignored).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { startWorkerPools, type WorkerPools } from '../../src/engine/pools.js';
import type { ExecutionContext, StepExecutor } from '../../src/kinds/executor.js';
import type { ToolCallRecord } from '../../src/model/run.js';
import { createBuiltins, EMIT_OUTPUT_TOOL } from '../../src/tools/builtins/index.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
const skipWhy = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it as root)`;

const model = { provider: 'anthropic', model: 'claude-sonnet-4-6', attempts: 2, backoff: { type: 'fixed', delayMs: 200, jitter: 0 } };

let fake: FakeLlmServer;
let h: Harness;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let writer: { authorization: string };
let pools: WorkerPools;

/**
 * Plays the model of the step `partner` (a Thinking Partner) through the built-in emit_output,
 * recording its transcript as the tool loop does; every other step runs as agents do.
 */
function partner(agent: StepExecutor<'agent'>): StepExecutor<'agent'> {
  return {
    async execute(step, ctx: ExecutionContext) {
      if (step.id !== 'partner') return agent.execute(step, ctx);
      const emit = createBuiltins({ outputs: h.system.engine.store.outputs, drafts: h.system.engine.store.drafts, scopeOf: (ws) => h.system.scope(ws) }).get(
        EMIT_OUTPUT_TOOL,
      )!(ctx);
      const asked: [number, string, Record<string, unknown>][] = [
        [1, 'c1', { name: 'Positioning Strategy', content: `# Positioning\n\n${'Lead with durability: runs survive crashes and redeliveries. '.repeat(6)}` }],
        [1, 'c2', { name: 'figures', format: 'json', content: { share: 0.25, rivals: ['temporal', 'inngest'] } }],
        [2, 'c1', { name: '', content: 'an output without a name' }],
      ];
      const calls: ToolCallRecord[] = [];
      for (const [turn, id, args] of asked) {
        const scope = {
          runId: ctx.runId,
          stepId: step.id,
          workspace: ctx.workspaceId,
          turn,
          callId: id,
          idempotencyKey: `${ctx.runId}.${step.id}.${turn}.${id}`,
          signal: ctx.signal,
        };
        const out = await emit.call(args, scope);
        calls.push({ turn, id, name: EMIT_OUTPUT_TOOL, args, ...(out.isError ? { error: out.content } : { result: out.content }) });
      }
      // A call a person refused, as the tool loop records one that waited for a decision.
      const refused = { approved: false, by: 'ana', comment: 'not this name', at: new Date().toISOString() };
      calls.push({
        turn: 2,
        id: 'c2',
        name: EMIT_OUTPUT_TOOL,
        args: { name: 'Draft', content: 'x' },
        error: 'rejected by ana: not this name',
        approval: refused,
      });
      ctx.record({ calls });
      return { type: 'succeeded', output: 'Two outputs are on the run.', model: 'scripted' };
    },
  };
}

async function submit(workflow: string, input: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { workflow, input }, writer);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

/** Log a fresh browser context in with `key`, landing on `next`. */
async function loggedIn(key: string, next: string): Promise<{ context: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const p = await ctx.newPage();
  await p.goto(`${h.baseUrl}/admin/login?next=${encodeURIComponent(next)}`);
  await p.fill('input[name=key]', key);
  await Promise.all([p.waitForURL(`${h.baseUrl}${next}`), p.click('button')]);
  return { context: ctx, page: p };
}

const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
const runBadge = () => page.locator('.title h1 .badge').getAttribute('data-status');

describe.skipIf(skipWhy !== undefined)(`the run pages in headless Chromium${skipWhy ? ` (skipped: ${skipWhy})` : ''}`, () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    fake = await startFakeLlmServer();
    const prReview = parseYaml(readFileSync('flows/pr-review.yaml', 'utf8')) as Record<string, unknown>;
    h = await startHarness({
      name: 'run-page',
      fake,
      agents: { review: model, code: model, synthesizer: model, lead: { ...model, delegates: ['code'] }, thinker: { ...model, tools: ['emit_output'] } },
      pools: false,
      workflows: [
        prReview,
        {
          name: 'breaks',
          steps: [
            { id: 'flaky', agent: 'review', input: { task: 'Summarise [[fail-first:1:500]]' } },
            { id: 'broken', agent: 'code', dependsOn: ['flaky'], input: { task: 'Patch it [[status:400]]' } },
          ],
        },
        {
          // An orchestrator whose first turn delegates to code, and asks for review, which it may not call.
          name: 'orchestrated',
          steps: [
            {
              id: 'lead',
              agent: 'lead',
              input: { task: 'Plan [[tool:delegate:{"agent":"code","task":"Write it"}]] [[tool:delegate:{"agent":"review","task":"Check it"}]]' },
            },
          ],
        },
        { name: 'thinking', steps: [{ id: 'partner', agent: 'thinker', input: { task: 'Position us against our rivals' } }] },
        {
          name: 'gated',
          automation: 'manual',
          steps: [
            { id: 'draft', agent: 'code', input: { task: 'Draft the release note' } },
            { id: 'signoff', kind: 'approval', dependsOn: ['draft'], timeoutMs: 3_600_000 },
            { id: 'publish', agent: 'code', dependsOn: ['signoff'], input: { task: 'Publish {{ steps.draft.output }}' } },
          ],
        },
        {
          // Grows while it runs (a forEach adds a step per item) and joins with a policy.
          name: 'slow',
          input: { topics: { type: 'array' } },
          steps: [
            { id: 'think', agent: 'review', input: { task: 'Think slowly' } },
            { id: 'each', kind: 'forEach', dependsOn: ['think'], items: '{{ input.topics }}', step: { agent: 'code', input: { task: 'Look at {{ item }}' } } },
            { id: 'quick', agent: 'code', input: { task: 'Quick look' } },
            { id: 'answer', agent: 'code', dependsOn: ['each', 'quick'], join: 'bestEffort', input: { task: 'Answer' } },
          ],
        },
      ],
    });
    pools = await startWorkerPools(h.system, { executors: (d) => ({ agent: partner(d.agent) }) });
    const made = await h.system.keys.create({ workspace: 'default', scopes: ['runs:read', 'runs:write'] });
    writer = { authorization: `Bearer ${made.key}` };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    ({ context, page } = await loggedIn(made.key, '/runs'));
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await pools?.close();
    await h?.close();
    await fake?.close();
    assertAllClosed();
  });

  it('draws a finished diamond: its four steps, their statuses, its edges and its waterfall', async () => {
    const id = await submit('pr-review', { title: 'Check roles', diff: '-if (user.isAdmin)\n+if (user.role == "admin")' });
    await h.waitForRun(id);
    await page.goto(`${h.baseUrl}/runs/${id}`);
    const nodes = page.locator('svg.dag g.node');
    await expect.poll(() => nodes.count()).toBe(4);
    for (const step of ['analyse', 'fixes', 'security', 'synthesize'])
      expect(await page.locator(`svg.dag g.node[data-step="${step}"]`).getAttribute('data-status')).toBe('succeeded');
    expect(await page.locator('svg.dag path.edge').count()).toBe(4);
    expect(await page.locator('.timeline .row').count()).toBe(4);
    expect(await runBadge()).toBe('succeeded');
    await page.click('svg.dag g.node[data-step="security"]');
    await expect.poll(() => page.locator('#detail').getAttribute('data-step')).toBe('security');
    expect(await page.locator('#detail').innerText()).toContain('claude-sonnet-4-6');
    await shot('run-page-diamond');
  });

  it('shows why a run failed, the failed step’s error, and a retried step’s attempts as separate bars', async () => {
    const id = await submit('breaks');
    await h.waitForRun(id);
    await page.goto(`${h.baseUrl}/runs/${id}`);
    await expect.poll(() => runBadge()).toBe('failed');
    // The failed step is selected by default.
    await expect.poll(() => page.locator('#step-error').innerText()).toContain('fake error 400');
    expect(await page.locator('svg.dag g.node[data-step="broken"]').getAttribute('data-status')).toBe('failed');
    // The waterfall is drawn from the event stream, which may still be arriving.
    await expect.poll(() => page.locator('.timeline .row[data-step="flaky"]').getAttribute('data-attempts')).toBe('2');
    expect(await page.locator('.timeline .row[data-step="flaky"] .bar.ran.retried').count()).toBe(1);
    expect(await page.locator('.timeline .row[data-step="flaky"] .bar.ran.succeeded').count()).toBe(1);
    await shot('run-page-failed');
  });

  it('approves a waiting gate from the page, with a comment, and the run finishes live', async () => {
    const id = await submit('gated');
    await h.waitUntil(id, (r) => r.status === 'waiting');
    await page.goto(`${h.baseUrl}/runs/${id}`);
    await expect.poll(() => page.locator('#waiting').innerText()).toContain('waits for a person to approve or reject it');
    expect(await page.locator('#waiting').innerText()).toContain('decides by itself at');
    await page.fill('#gate-comment', 'Looks right to me');
    await shot('run-page-approval');
    await page.click('#approve');
    await expect.poll(() => runBadge(), { timeout: 10_000 }).toBe('succeeded');
    await page.click('svg.dag g.node[data-step="signoff"]');
    await expect.poll(() => page.locator('#detail .decisions').innerText()).toContain('approved by run page');
    expect(await page.locator('#detail .decisions').innerText()).toContain('Looks right to me');
    const run = await h.request('GET', `/v1/runs/${id}`, undefined, writer);
    expect(run.body.steps.find((s: { stepId: string }) => s.stepId === 'publish').status).toBe('succeeded');
  });

  it('follows a live run without a reload: its grown steps drawn inside the step that added them, its join named', async () => {
    // Its first answer is held until the page has shown the step running.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    fake.respondWith(async (req) => (req.prompt.includes('Think slowly') ? held.then(() => undefined) : undefined));
    const id = await submit('slow', { topics: ['queues', 'locks'] });
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${h.baseUrl}/runs/${id}`);
    await expect.poll(() => page.locator('svg.dag g.node[data-step="think"]').getAttribute('data-status')).toBe('running');
    expect(await page.locator('#live').innerText()).toBe('live');
    release();
    fake.respondWith(undefined);
    await expect.poll(() => runBadge(), { timeout: 10_000 }).toBe('succeeded');
    expect(await page.locator('svg.dag g.node[data-step="answer"]').getAttribute('data-status')).toBe('succeeded');
    expect(await page.locator('svg.dag g.node[data-step="answer"] .join').textContent()).toContain('join: bestEffort');
    // The forEach's items, added while it ran, are drawn inside it.
    await expect.poll(() => page.locator('svg.dag g.node.group[data-step="each"]').count()).toBe(1);
    // Read in one go in the page (it may be drawn again meanwhile); the tests compile without the DOM's types.
    const inside = () =>
      page.evaluate<boolean>(`(() => {
        const box = document.querySelector('svg.dag g.node[data-step="each"] rect').getBoundingClientRect();
        const items = [...document.querySelectorAll('svg.dag g.node[data-step^="each."] rect')].map((r) => r.getBoundingClientRect());
        return items.length === 2 && items.every((b) => b.left >= box.left && b.top >= box.top && b.right <= box.right && b.bottom <= box.bottom);
      })()`);
    await expect.poll(inside).toBe(true);
    await shot('run-page-grown');
    expect(loads, 'the page was loaded once').toBe(1);
    page.removeAllListeners('load');
  });

  it('shows an orchestrator’s transcript: each turn’s tool calls, the step a delegation became, a refused call', async () => {
    const id = await submit('orchestrated');
    await h.waitForRun(id);
    await page.goto(`${h.baseUrl}/runs/${id}?step=lead`);
    const transcript = page.locator('#detail .transcript');
    await expect.poll(() => transcript.count()).toBe(1);
    expect(await transcript.locator('summary').first().innerText()).toMatch(/^Transcript: \d+ calls? in \d+ turns?$/);
    // One row per call: its turn (on the turn's first row), the tool, its arguments, what it came to.
    const first = transcript.locator('tr.call[data-turn="1"]').first();
    expect(await first.locator('td.turn').innerText()).toBe('1');
    expect(await first.locator('td.tool').innerText()).toBe('delegate');
    expect(await first.locator('td.args').innerText()).toBe('{"agent":"code","task":"Write it"}');
    expect(await transcript.locator('button', { hasText: 'lead.1.code' }).count()).toBe(1);
    expect(await transcript.locator('tr.call.refused').count()).toBe(1);
    expect(await transcript.locator('tr.call.refused td.outcome').innerText()).toContain('review');
    expect(await page.locator('svg.dag g.node.group[data-step="lead"]').count()).toBe(1);
    await shot('run-page-transcript');
  });

  it('answers 404 naming the problem to a path that is not a run, and serves only the pages’ own assets', async () => {
    const bad = await fetch(`${h.baseUrl}/runs/not-a-run`);
    expect(bad.status).toBe(404);
    expect(await bad.text()).toContain('&#34;not-a-run&#34; is not a run id');
    expect((await fetch(`${h.baseUrl}/runs/assets/run.js`)).headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${h.baseUrl}/runs/assets/..%2Froutes%2Fpages.ts`)).status).toBe(404);
    expect((await fetch(`${h.baseUrl}/runs/assets/nothing.js`)).status).toBe(404);
  });

  it('lists the runs newest first and filters them by status and workflow', async () => {
    // A filtered list's address can be shared: it opens filtered.
    await page.goto(`${h.baseUrl}/runs?workflow=gated`);
    await expect.poll(() => page.locator('#runs tbody tr[data-run]').count()).toBe(1);
    await page.goto(`${h.baseUrl}/runs`);
    const rows = page.locator('#runs tbody tr[data-run]');
    await expect.poll(() => rows.count()).toBe(5);
    const listed = await h.request('GET', '/v1/runs', undefined, writer);
    expect(await rows.first().getAttribute('data-run')).toBe(listed.body.runs[0].id);
    await page.selectOption('select[name=status]', 'failed');
    await expect.poll(() => rows.count()).toBe(1);
    expect(page.url()).toContain('status=failed');
    await page.selectOption('select[name=status]', '');
    await page.fill('input[name=workflow]', 'pr-review');
    await page.click('#filters button[type=submit]');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain('pr-review');
    await shot('run-list');
  });

  it('shows a read-only credential no buttons, and refuses a cookie’s change without the page’s header', async () => {
    const reader = await h.system.keys.create({ workspace: 'default', scopes: ['runs:read'] });
    const id = await submit('gated');
    await h.waitUntil(id, (r) => r.status === 'waiting');
    const ro = await loggedIn(reader.key, `/runs/${id}`);
    await expect.poll(() => ro.page.locator('#waiting').count()).toBe(1);
    expect(await ro.page.locator('#approve, #cancel').count()).toBe(0);
    const cookie = (await context.cookies()).find((c) => c.name === 'sy_session')!;
    const bare = await h.request('POST', `/v1/runs/${id}/cancel`, undefined, { cookie: `sy_session=${cookie.value}` });
    expect(bare.status).toBe(403);
    expect(bare.body.error.message).toContain('x-switchyard-page');
    await ro.context.close();
    await h.request('POST', `/v1/runs/${id}/cancel`, undefined, writer);
  });

  it('shows a tool-loop step’s calls compactly, a long part opening in place, a decision on a call, and the work outputs it emitted', async () => {
    const id = await submit('thinking');
    await h.waitForRun(id);
    await page.goto(`${h.baseUrl}/runs/${id}?step=partner`);
    const transcript = page.locator('#detail .transcript');
    await expect.poll(() => transcript.count()).toBe(1);
    expect(await transcript.locator('summary').first().innerText()).toBe('Transcript: 4 calls in 2 turns');
    const rows = transcript.locator('tr.call');
    expect(await rows.count()).toBe(4);
    expect(await rows.nth(0).locator('td.outcome').innerText()).toMatch(/^Kept output "Positioning Strategy" \(markdown, \d+ bytes\) on the run\.$/);
    expect(await rows.nth(1).locator('td.turn').innerText()).toBe('');
    expect(await rows.nth(2).getAttribute('class')).toContain('refused');
    expect(await rows.nth(2).locator('td.outcome').innerText()).toContain('bad arguments for emit_output: name');
    // A person's decision on a call that waited for one.
    expect(await rows.nth(3).locator('.approval.rejected').innerText()).toMatch(/^rejected by ana at .+: “not this name”$/);
    // The long arguments of the first call show one line, and open to the whole of them.
    const long = rows.nth(0).locator('td.args details');
    expect(await long.locator('summary').innerText()).toMatch(/…$/);
    await long.locator('summary').click();
    // It stays open while the page draws the run again (the events it replays).
    await expect.poll(() => long.locator('pre').innerText()).toContain('Lead with durability');
    const outputs = page.locator('#work-outputs details.output');
    expect(await outputs.count()).toBe(2);
    expect(await outputs.nth(1).getAttribute('data-output')).toBe('figures');
    await outputs.nth(1).locator('summary').click();
    await expect.poll(() => outputs.nth(1).locator('pre').innerText()).toContain('"rivals"');
    await shot('run-page-transcript-tools');
  });
});
