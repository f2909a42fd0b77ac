/**
 * The agents-file examples of the MCP guide work: each YAML block that declares `mcpServers`
 * loads as an agents file, and each of its servers, run against the tests' MCP server, gets
 * its `{{ secrets.NAME }}` values from the workspace. What an example names that cannot run
 * here is swapped: a stdio server's command becomes the test server (its env is kept, the
 * first secret-holding value given to it as MCP_TOKEN), an HTTP server's url becomes the
 * local one (its headers are kept).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentsFile } from '../../src/agents/registry.js';
import { loadConfig } from '../../src/config/env.js';
import { McpServerSpec } from '../../src/model/tool.js';
import { McpPool } from '../../src/tools/mcp/pool.js';
import { silentLogger } from '../../src/logger.js';
import { startMcpHttpServer } from '../helpers/mcp-http-server.js';
import { nodeArgs } from '../helpers/node-entry.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'mcp-server.ts');
const PAGES = ['docs/tools-mcp.md', 'docs/tools.md'].filter((p) => existsSync(path.join(ROOT, p)));
const examples = PAGES.flatMap((page) =>
  [...readFileSync(path.join(ROOT, page), 'utf8').matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]!).filter((y) => /^mcpServers:/m.test(y)),
);
const dir = mkdtempSync(path.join(tmpdir(), 'mcp-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the MCP guide', () => {
  it('has an example with a stdio and an HTTP server', () => {
    const servers = examples.flatMap((y) => Object.values((parseYaml(y) as { mcpServers: Record<string, object> }).mcpServers));
    expect(servers.some((s) => 'command' in s)).toBe(true);
    expect(servers.some((s) => 'url' in s)).toBe(true);
  });

  it.each(examples.map((yaml, i) => [i, yaml]))('example %i loads as an agents file and its servers answer with the secrets filled in', async (i, yaml) => {
    const file = path.join(dir, `agents-${i}.yaml`);
    writeFileSync(file, yaml);
    const registry = loadAgentsFile(file, loadConfig({}), {});
    const http = await startMcpHttpServer();
    const pool = new McpPool({
      servers: swapped(registry.mcpServers, http.url),
      secrets: (_ws, name) => Promise.resolve(`value-of-${name}`),
      logger: silentLogger,
    });
    try {
      for (const [name, spec] of Object.entries(registry.mcpServers)) {
        const tools = await pool.tools(name, 'acme');
        const echo = tools.find((t) => t.definition.name === `${name}_echo`)!;
        const { content } = await echo.call(
          { text: 'ok' },
          { runId: 'r', stepId: 's', workspace: 'acme', turn: 1, callId: 'c', idempotencyKey: 'r.s.1.c', signal: new AbortController().signal },
        );
        const values = Object.values('command' in spec ? spec.env : spec.headers);
        const expected = values.find((v) => v.includes('{{'))?.replace(/\{\{\s*secrets\.(\w+)\s*\}\}/g, 'value-of-$1') ?? '(none)';
        expect(content).toBe(`ok\ncredential: ${expected}`);
      }
    } finally {
      await pool.close();
      await http.close();
    }
  });
});

/** The example's servers, made to run here (see the header). */
function swapped(servers: Readonly<Record<string, McpServerSpec>>, url: string): Record<string, McpServerSpec> {
  return Object.fromEntries(
    Object.entries(servers).map(([name, spec]) => {
      if (!('command' in spec)) return [name, { ...spec, url }];
      const token = Object.values(spec.env).find((v) => v.includes('{{'));
      const env = token === undefined ? spec.env : { ...spec.env, MCP_TOKEN: token };
      return [name, McpServerSpec.parse({ ...spec, command: process.execPath, args: nodeArgs(FIXTURE), cwd: ROOT, env })];
    }),
  );
}
