/**
 * The run page shows a streaming step's text as it arrives (`step.delta`), in a real browser
 * (Debian's Chromium driven by playwright-core) against a real Switchyard: real Redis, real
 * workers, the real OpenAI SDK streaming from the fake LLM server.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
const skipWhy = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it as root)`;

let fake: FakeLlmServer;
let h: Harness;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let writer: { authorization: string };

describe.skipIf(skipWhy !== undefined)(`a streaming step on the run page${skipWhy ? ` (skipped: ${skipWhy})` : ''}`, () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    fake = await startFakeLlmServer();
    h = await startHarness({ name: 'run-page-streaming', fake, agents: { writer: { provider: 'openai', model: 'gpt-test', stream: true, attempts: 1 } } });
    const made = await h.system.keys.create({ workspace: 'default', scopes: ['runs:read', 'runs:write'] });
    writer = { authorization: `Bearer ${made.key}` };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    await page.goto(`${h.baseUrl}/admin/login?next=${encodeURIComponent('/runs')}`);
    await page.fill('input[name=key]', made.key);
    await Promise.all([page.waitForURL(`${h.baseUrl}/runs`), page.click('button')]);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await h?.close();
    await fake?.close();
    assertAllClosed();
  });

  it('shows the text of a running step as it arrives, then its output once it completes', async () => {
    // The answer is held until the page follows the run, then comes in 60 pieces 40 ms apart.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    fake.respondWith(async () => held.then(() => undefined));
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const res = await h.request('POST', '/v1/runs', { agent: 'writer', input: { task: `${words} [[chunks:60]] [[chunk-delay:40]]` } }, writer);
    expect(res.status).toBe(202);
    await page.goto(`${h.baseUrl}/runs/${res.body.id}?step=writer`);
    await expect.poll(() => page.locator('svg.dag g.node[data-step="writer"]').getAttribute('data-status')).toBe('running');
    release();
    const text = page.locator('#streaming-text');
    // Part of the answer, while the step runs.
    await expect.poll(async () => ((await text.count()) ? await text.innerText() : ''), { timeout: 10_000 }).toContain('word');
    const partial = await text.innerText().catch(() => '');
    expect(await page.locator('#streaming').getAttribute('data-step')).toBe('writer');
    await page.screenshot({ path: path.join(ARTIFACTS, 'run-page-streaming.png'), fullPage: true });
    await expect.poll(() => page.locator('.title h1 .badge').getAttribute('data-status'), { timeout: 15_000 }).toBe('succeeded');
    // Once it completed: no streaming box; the output is in the step's detail.
    await expect.poll(() => page.locator('#streaming').count()).toBe(0);
    const run = await h.request('GET', `/v1/runs/${res.body.id}`, undefined, writer);
    expect(String(run.body.output).startsWith(partial)).toBe(true);
    expect(await page.locator('#detail').innerText()).toContain('word59');
    fake.respondWith(undefined);
  });
});
