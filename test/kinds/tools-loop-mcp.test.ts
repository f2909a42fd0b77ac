/**
 * The tool loop with an MCP server's tools (the process's pool, src/tools/mcp): the test's
 * stdio server (test/fixtures/mcp-server.ts) given to agents on the real Anthropic and OpenAI
 * SDKs against the fake server, end to end through a run.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { nodeArgs } from '../helpers/node-entry.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'mcp-server.ts');

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'tools-loop-mcp',
    fake,
    agents: {
      ma: { provider: 'anthropic', model: 'claude-mcp', tools: ['files'] },
      mo: { provider: 'openai', model: 'gpt-mcp', tools: ['files/echo'] },
    },
    mcpServers: { files: { command: process.execPath, args: nodeArgs(FIXTURE), cwd: ROOT } },
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const names = (r: RecordedRequest): string[] => r.body.tools.map((t: any) => t.name ?? t.function.name);
/** The tool results sent back, as text the model reads (an error's starts with "error: "). */
function resultsSent(r: RecordedRequest): string[] {
  const messages: any[] = r.body.messages;
  if (r.api === 'anthropic')
    return messages
      .at(-1)
      .content.filter((b: any) => b.type === 'tool_result')
      .map((b: any) => `${b.is_error ? 'error: ' : ''}${String(b.content)}`);
  return messages.filter((m) => m.role === 'tool').map((m) => String(m.content).replace(/^Error: /, 'error: '));
}

describe.each([
  { agent: 'ma', model: 'claude-mcp', offered: ['files_echo', 'files_fail_hard', 'files_sleep'], calls: ['files_echo', 'files_fail_hard'] },
  { agent: 'mo', model: 'gpt-mcp', offered: ['files_echo'], calls: ['files_echo'] },
])('an agent on $model given an MCP server', ({ agent, model, offered, calls }) => {
  it("offers the server's tools it lists; a tool's answer, and a tool's error, reach the model", { timeout: 60_000 }, async () => {
    fake.respondWith((r) => {
      if (r.body?.model !== model) return undefined;
      const turns = r.body.messages.filter((m: any) => m.role === 'assistant').length;
      if (turns === 0) return { toolCalls: calls.map((name) => ({ name, input: name === 'files_echo' ? { text: 'hello' } : {} })) };
      return { text: `answer from ${resultsSent(r).join(' | ')}` };
    });
    const res = await h.request('POST', '/v1/runs', { agent, input: { task: 'Use the server' } });
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id as string, 45_000);
    expect(run.status, JSON.stringify(run.steps[0]?.error)).toBe('succeeded');
    const requests = fake.requests.filter((r) => r.body?.model === model);
    expect(names(requests[0]!)).toEqual(offered);
    const expected = ['hello\ncredential: (none)', ...(calls.length > 1 ? ['error: it broke on purpose'] : [])];
    expect(run.output).toBe(`answer from ${expected.join(' | ')}`);
    expect(run.steps[0]!.calls!.map((c) => [c.name, c.result ?? null, c.error ?? null])).toEqual(
      calls.map((name) => (name === 'files_echo' ? [name, 'hello\ncredential: (none)', null] : [name, null, 'it broke on purpose'])),
    );
    await expectNoLiveJobs(h.system, run.id);
  });
});
