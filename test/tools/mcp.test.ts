/**
 * MCP servers as agent tools (src/tools/mcp): a real stdio server (a child process built with
 * the SDK's McpServer) and a real streamable HTTP one, reached through the SDK's client.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { McpPool } from '../../src/tools/mcp/pool.js';
import type { McpServerSpec } from '../../src/model/tool.js';
import { McpServerSpec as McpServerSchema } from '../../src/model/tool.js';
import type { AgentTool, SecretLookup, ToolCallScope } from '../../src/tools/tool.js';
import { NonRetryableError, RetryableError } from '../../src/errors/index.js';
import { createLogger } from '../../src/logger.js';
import type { EgressConfig } from '../../src/config/egress-env.js';
import { poll } from '../helpers/poll.js';
import { startMcpHttpServer, type McpHttpServer } from '../helpers/mcp-http-server.js';
import { nodeArgs } from '../helpers/node-entry.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'mcp-server.ts');

const stdio = (extra: Record<string, unknown> = {}): McpServerSpec =>
  McpServerSchema.parse({ command: process.execPath, args: nodeArgs(FIXTURE), cwd: ROOT, ...extra });
const SECRETS: Record<string, Record<string, string>> = { 'ws-a': { TOKEN: 'alpha-secret-1' }, 'ws-b': { TOKEN: 'beta-secret-2' } };
const lookup: SecretLookup = (ws, name) => Promise.resolve(SECRETS[ws]?.[name]);

const logLines: string[] = [];
const logger = createLogger('debug', { destination: { write: (line: string) => void logLines.push(line) } });
const pools: McpPool[] = [];
function pool(servers: Record<string, McpServerSpec>, egress?: EgressConfig): McpPool {
  const p = new McpPool({ servers, secrets: lookup, logger, ...(egress ? { egress } : {}) });
  pools.push(p);
  return p;
}
let n = 0;
function scope(workspace = 'ws-a'): ToolCallScope {
  n++;
  return { runId: 'r1', stepId: 's1', workspace, turn: 1, callId: `c${n}`, idempotencyKey: `r1.s1.1.c${n}`, signal: new AbortController().signal };
}
const byName = (tools: AgentTool[], name: string): AgentTool => tools.find((t) => t.definition.name === name)!;
const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('an MCP server over stdio', () => {
  it('offers its tools under valid, unique names, with their descriptions and input schemas', async () => {
    const tools = await pool({ files: stdio() }).tools('files', 'ws-a');
    expect(tools.map((t) => t.definition.name)).toEqual(['files_echo', 'files_fail_hard', 'files_sleep']);
    expect(tools.every((t) => t.kind === 'mcp')).toBe(true);
    const echo = byName(tools, 'files_echo');
    expect(echo.definition.description).toBe('Says the text back');
    expect(echo.definition.inputSchema).toMatchObject({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
  });

  it('gives one tool for <server>/<tool>, and names the tools it has for an unknown one', async () => {
    const p = pool({ files: stdio() });
    const [one, ...rest] = await p.tools('files/fail.hard', 'ws-a');
    expect(rest).toEqual([]);
    expect(one!.definition.name).toBe('files_fail_hard');
    const err = await p.tools('files/nope', 'ws-a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as Error).message).toBe('MCP server "files" has no tool "nope" (it has: echo, fail.hard, sleep)');
  });

  it("answers a call with the tool's text, and an error result as an error outcome", async () => {
    const tools = await pool({ files: stdio() }).tools('files', 'ws-a');
    expect(await byName(tools, 'files_echo').call({ text: 'hello' }, scope())).toEqual({ content: 'hello\ncredential: (none)' });
    expect(await byName(tools, 'files_fail_hard').call({}, scope())).toEqual({ content: 'it broke on purpose', isError: true });
    expect(await byName(tools, 'files_echo').call('not an object', scope())).toMatchObject({ isError: true });
  });

  it("fills in each workspace's secrets: a process per workspace, values never logged, a missing secret named", async () => {
    const p = pool({ files: stdio({ env: { MCP_TOKEN: 'Bearer {{ secrets.TOKEN }}' } }) });
    const [a] = await p.tools('files/echo', 'ws-a');
    const [b] = await p.tools('files/echo', 'ws-b');
    expect(await a!.call({ text: 'x' }, scope('ws-a'))).toEqual({ content: 'x\ncredential: Bearer alpha-secret-1' });
    expect(await b!.call({ text: 'y' }, scope('ws-b'))).toEqual({ content: 'y\ncredential: Bearer beta-secret-2' });
    expect(new Set(await p.pids()).size).toBe(2);
    await poll(
      'the servers’ stderr logged',
      () => logLines.filter((l) => l.includes('mcp test server up')).length,
      (c) => c >= 2,
    );
    expect(logLines.join('\n')).not.toMatch(/alpha-secret-1|beta-secret-2/);
    const err = await p.tools('files', 'ws-c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as Error).message).toBe('MCP server "files" needs the secret "TOKEN", which workspace "ws-c" does not have');
  });

  it('shares one process among workspaces when the spec names no secret', async () => {
    const p = pool({ files: stdio() });
    await (await p.tools('files/echo', 'ws-a'))[0]!.call({ text: 'a' }, scope('ws-a'));
    await (await p.tools('files/echo', 'ws-b'))[0]!.call({ text: 'b' }, scope('ws-b'));
    expect((await p.pids()).length).toBe(1);
  });

  it('starts a killed server again on the next call', async () => {
    const p = pool({ files: stdio() });
    const [echo] = await p.tools('files/echo', 'ws-a');
    const [pid] = await p.pids();
    process.kill(pid!, 'SIGKILL');
    await poll(
      'the pool to see the server gone',
      () => p.pids(),
      (pids) => !pids.includes(pid!),
    );
    expect(await echo!.call({ text: 'again' }, scope())).toEqual({ content: 'again\ncredential: (none)' });
    const [next] = await p.pids();
    expect(next).not.toBe(pid);
  });

  it('does not make a call again when the server died during it: the model is told it may have run', async () => {
    const p = pool({ files: stdio() });
    const [sleep] = await p.tools('files/sleep', 'ws-a');
    const [pid] = await p.pids();
    const before = logLines.filter((l) => l.includes('sleeping')).length;
    const outcome = sleep!.call({ ms: 30_000 }, scope());
    await poll(
      'the call to arrive',
      () => logLines.filter((l) => l.includes('sleeping')).length,
      (c) => c > before,
    );
    process.kill(pid!, 'SIGKILL');
    const result = await outcome;
    expect(result.isError).toBe(true);
    expect(result.content).toMatch(/closed the connection during the call; the call may have run \(it was not made again/);
    expect(logLines.filter((l) => l.includes('sleeping')).length).toBe(before + 1);
  });

  it('gives an error outcome for a call with no answer within timeoutMs', async () => {
    const [sleep] = await pool({ files: stdio({ timeoutMs: 300 }) }).tools('files/sleep', 'ws-a');
    const result = await sleep!.call({ ms: 5_000 }, scope());
    expect(result).toEqual({
      content: 'MCP server "files", tool "sleep": no answer within 300 ms; the call may have run (it was not made again)',
      isError: true,
    });
  });

  it("replaces a workspace's server when its secret changed, and stops the old one", async () => {
    const p = pool({ files: stdio({ env: { MCP_TOKEN: '{{ secrets.ROTATED }}' } }) });
    SECRETS['ws-r'] = { ROTATED: 'first-value' };
    const [echo] = await p.tools('files/echo', 'ws-r');
    expect((await echo!.call({ text: 'a' }, scope('ws-r'))).content).toBe('a\ncredential: first-value');
    const [old] = await p.pids();
    SECRETS['ws-r'] = { ROTATED: 'second-value' };
    expect((await echo!.call({ text: 'b' }, scope('ws-r'))).content).toBe('b\ncredential: second-value');
    await poll(
      'the old server to stop',
      () => gone(old!),
      (g) => g,
      { timeoutMs: 10_000 },
    );
    expect(await p.pids()).not.toContain(old);
  });

  it('abandons a call when the step is cancelled, with a throw for the step (not a result for the model)', async () => {
    const [sleep] = await pool({ files: stdio() }).tools('files/sleep', 'ws-a');
    const cancel = new AbortController();
    const before = logLines.filter((l) => l.includes('sleeping')).length;
    const call = sleep!.call({ ms: 30_000 }, { ...scope(), signal: cancel.signal });
    await poll(
      'the call to arrive',
      () => logLines.filter((l) => l.includes('sleeping')).length,
      (c) => c > before,
    );
    cancel.abort(new Error('step cancelled'));
    await expect(call).rejects.toThrow('step cancelled');
  });

  it('stops every server on close and leaves no process; nothing is opened after', async () => {
    const p = pool({ files: stdio({ env: { MCP_TOKEN: '{{ secrets.TOKEN }}' } }), other: stdio() });
    await p.tools('files', 'ws-a');
    await p.tools('files', 'ws-b');
    await p.tools('other', 'ws-a');
    const pids = await p.pids();
    expect(pids.length).toBe(3);
    await p.close();
    expect(pids.filter((pid) => !gone(pid))).toEqual([]);
    await expect(p.tools('files', 'ws-a')).rejects.toBeInstanceOf(RetryableError);
  });

  it('leaves a server that could not be started alone for a while: the calls meanwhile fail at once, with that failure', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mcp-starts-'));
    const starts = path.join(dir, 'starts');
    // A server that exits as it starts, noting each start.
    const failing = pool({ dies: stdio({ args: ['-e', `require('node:fs').appendFileSync(${JSON.stringify(starts)}, 'x'); process.exit(3)`] }) });
    const first = await failing.tools('dies', 'ws-a').catch((e: unknown) => e);
    expect(first).toBeInstanceOf(RetryableError);
    expect((first as Error).message).toMatch(/^could not start MCP server "dies"/);
    const again = await failing.tools('dies', 'ws-a').catch((e: unknown) => e);
    expect(again).toBe(first);
    expect(readFileSync(starts, 'utf8')).toBe('x');
    // Once the cool-down has passed, it is started again.
    await poll(
      'a second start after the cool-down',
      async () => {
        await failing.tools('dies', 'ws-a').catch(() => undefined);
        return readFileSync(starts, 'utf8');
      },
      (text) => text === 'xx',
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('says which command could not be started', async () => {
    const err = await pool({ broken: stdio({ command: 'no-such-mcp-server-command', args: [] }) })
      .tools('broken', 'ws-a')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as Error).message).toMatch(/^could not start MCP server "broken" \(no-such-mcp-server-command\)/);
  });
});

describe('an MCP server over streamable HTTP', () => {
  let server: McpHttpServer;
  afterAll(() => server?.close());

  it("lists and calls its tools with the workspace's secret in a header", async () => {
    server = await startMcpHttpServer();
    const spec = McpServerSchema.parse({ url: server.url, headers: { authorization: 'Bearer {{ secrets.TOKEN }}' } });
    const tools = await pool({ remote: spec }).tools('remote', 'ws-b');
    expect(tools.map((t) => t.definition.name)).toEqual(['remote_echo', 'remote_fail_hard', 'remote_sleep']);
    expect(await byName(tools, 'remote_echo').call({ text: 'hi' }, scope('ws-b'))).toEqual({ content: 'hi\ncredential: Bearer beta-secret-2' });
    expect(await byName(tools, 'remote_fail_hard').call({}, scope('ws-b'))).toEqual({ content: 'it broke on purpose', isError: true });
  });

  it('opens a new session when the server dropped its own, and makes the call once on it', async () => {
    const p = pool({ remote: McpServerSchema.parse({ url: server.url }) });
    const [echo] = await p.tools('remote/echo', 'ws-a');
    const opened = server.sessionsOpened();
    await server.dropSessions();
    expect(await echo!.call({ text: 'after' }, scope())).toEqual({ content: 'after\ncredential: (none)' });
    expect(server.sessionsOpened()).toBe(opened + 1);
  });

  it('is reached only where egress allows: never a link-local or metadata address, in production only an allowed host', async () => {
    const opened = server.sessionsOpened();
    const metadata = pool({ meta: McpServerSchema.parse({ url: 'http://169.254.169.254/mcp' }) });
    const refused = await metadata.tools('meta', 'ws-a').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NonRetryableError);
    expect((refused as Error).message).toMatch(/could not reach MCP server "meta".*169\.254\.169\.254.*link-local/);

    const production: EgressConfig = { production: true, allow: ['mcp.example.com'] };
    const outside = await pool({ remote: McpServerSchema.parse({ url: server.url }) }, production)
      .tools('remote', 'ws-a')
      .catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(NonRetryableError);
    expect((outside as Error).message).toMatch(/egress refused: host "127\.0\.0\.1" is not in SWITCHYARD_EGRESS_ALLOW/);
    expect(server.sessionsOpened()).toBe(opened);

    const allowed = pool({ remote: McpServerSchema.parse({ url: server.url }) }, { production: true, allow: ['127.0.0.1'] });
    const [echo] = await allowed.tools('remote/echo', 'ws-a');
    expect(await echo!.call({ text: 'allowed' }, scope())).toEqual({ content: 'allowed\ncredential: (none)' });
    expect(server.sessionsOpened()).toBe(opened + 1);
  });
});
