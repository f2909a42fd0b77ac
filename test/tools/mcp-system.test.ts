/**
 * The MCP pool of a process: built by the System from the agents file's `mcpServers`, and
 * closed with it (a worker process closes its System after its pools on shutdown), leaving no
 * server process behind.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { systemFromDefinitions } from '../../src/system-definitions.js';
import { silentLogger } from '../../src/logger.js';
import { Redis } from 'ioredis';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { nodeArgs } from '../helpers/node-entry.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'mcp-server.ts');

describe("a System's MCP servers", () => {
  it("are the agents file's, and are stopped when the System closes", async () => {
    const prefix = testPrefix('mcp-system');
    const config = loadConfig({ REDIS_URL, SWITCHYARD_PREFIX: prefix });
    const system = systemFromDefinitions({
      config,
      agents: { helper: { provider: 'echo', tools: ['files'] } },
      mcpServers: { files: { command: process.execPath, args: nodeArgs(FIXTURE), cwd: ROOT } },
      source: 'mcp-system test',
      logger: silentLogger,
    });
    const pids: number[] = [];
    try {
      const [echo] = await system.mcp.tools('files/echo', 'default');
      expect(
        await echo!.call(
          { text: 'hi' },
          { runId: 'r', stepId: 's', workspace: 'default', turn: 1, callId: 'c', idempotencyKey: 'r.s.1.c', signal: new AbortController().signal },
        ),
      ).toEqual({
        content: 'hi\ncredential: (none)',
      });
      pids.push(...(await system.mcp.pids()));
      expect(pids).toHaveLength(1);
    } finally {
      await system.close();
      const redis = new Redis(REDIS_URL);
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
    expect(
      pids.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      }),
    ).toEqual([]);
  });

  it("fill in {{ secrets.NAME }} from the step's workspace, set over the System's secrets", async () => {
    const prefix = testPrefix('mcp-system-secrets');
    const config = loadConfig({ REDIS_URL, SWITCHYARD_PREFIX: prefix, SWITCHYARD_SECRETS_KEY: randomBytes(32).toString('base64') });
    const system = systemFromDefinitions({
      config,
      agents: { helper: { provider: 'echo', tools: ['files'] } },
      mcpServers: { files: { command: process.execPath, args: nodeArgs(FIXTURE), cwd: ROOT, env: { MCP_TOKEN: '{{ secrets.TOKEN }}' } } },
      source: 'mcp-system test',
      logger: silentLogger,
    });
    try {
      await system.engine.secrets.set(system.scope('acme'), 'TOKEN', 'tok-acme');
      const [echo] = await system.mcp.tools('files/echo', 'acme');
      const scope = { runId: 'r', stepId: 's', workspace: 'acme', turn: 1, callId: 'c', idempotencyKey: 'r.s.1.c', signal: new AbortController().signal };
      expect(await echo!.call({ text: 'hi' }, scope)).toEqual({ content: 'hi\ncredential: tok-acme' });
      await expect(system.mcp.tools('files/echo', 'other')).rejects.toThrow(
        'MCP server "files" needs the secret "TOKEN", which workspace "other" does not have',
      );
    } finally {
      await system.close();
      const redis = new Redis(REDIS_URL);
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });
});
