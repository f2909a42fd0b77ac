/**
 * The MCP pool of a process: built by the System from the agents file's `mcpServers`, and
 * closed with it (a worker process closes its System after its pools on shutdown), leaving no
 * server process behind.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { systemFromDefinitions } from '../../src/system-definitions.js';
import { silentLogger } from '../../src/logger.js';
import { Redis } from 'ioredis';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'mcp-server.ts');

describe("a System's MCP servers", () => {
  it("are the agents file's, and are stopped when the System closes", async () => {
    const prefix = testPrefix('mcp-system');
    const config = loadConfig({ REDIS_URL, SWITCHYARD_PREFIX: prefix });
    const system = systemFromDefinitions({
      config,
      agents: { helper: { provider: 'echo', tools: ['files'] } },
      mcpServers: { files: { command: process.execPath, args: ['--import', 'tsx', FIXTURE], cwd: ROOT } },
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
});
