/**
 * `npm run secrets -- <args>` from a shell, as an operator runs it: a child process against the
 * test's Redis prefix, with an agents file of one echo agent (made and removed here) and `env`
 * (the keys) added to this process's environment. Its exit code and output.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REDIS_URL } from './redis.js';
import { nodeArgs } from './node-entry.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function secretsCli(prefix: string, env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sy-secrets-cli-'));
  const agentsFile = path.join(dir, 'agents.json');
  try {
    await writeFile(agentsFile, JSON.stringify({ agents: { plain: { provider: 'echo' } } }));
    return await new Promise<CliResult>((resolve) => {
      execFile(
        process.execPath,
        [...nodeArgs('src/cli/secrets.ts'), ...args],
        { env: { ...process.env, REDIS_URL, SWITCHYARD_PREFIX: prefix, SWITCHYARD_AGENTS: agentsFile, ...env } },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
