/**
 * `switchyard validate` in-process (the spawned command is in cli.test.ts): an agents file's
 * problems located at line and column, a workflow checked against the agents of an agents file
 * named in the same command, unreadable and malformed files reported, not thrown.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReports, validateFiles } from '../../src/cli/validate.js';
import { loadConfig } from '../../src/config/env.js';

let dir: string;
const config = loadConfig({});
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchyard-validate-'));
  await writeFile(file('bad-agents.yaml'), 'agents:\n  my-agent:\n    provider: echo\n    rateLimit: { max: lots, durationMs: 1000 }\n');
  await writeFile(file('agents.yaml'), 'agents:\n  scout:\n    provider: echo\n');
  await writeFile(file('flow.yaml'), 'name: f\nsteps:\n  - id: a\n    agent: scout\n    input: { task: go }\n');
  await writeFile(file('broken.yaml'), 'name: f\nsteps: [\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('validateFiles', () => {
  it('locates an agents file problem under an agent whose name holds a dash', () => {
    const [report] = validateFiles([file('bad-agents.yaml')], config, {});
    expect(report).toMatchObject({ kind: 'agents', valid: false });
    expect(report?.problems).toEqual([
      {
        path: 'agents.my-agent.rateLimit.max',
        line: 4,
        col: 23,
        message: `${file('bad-agents.yaml')}:4:23: agents.my-agent.rateLimit.max: expected number, received string`,
      },
    ]);
  });

  it('checks a workflow against the agents file named beside it', () => {
    const reports = validateFiles([file('flow.yaml'), file('agents.yaml')], config, {});
    expect(reports.map((r) => [r.kind, r.valid, r.summary])).toEqual([
      ['workflow', true, 'workflow "f", 1 step'],
      ['agents', true, '1 agents: scout'],
    ]);
    // Against the shipped agents file alone, `scout` is unknown.
    expect(validateFiles([file('flow.yaml')], config, {})[0]?.problems[0]?.message).toContain(
      `${file('flow.yaml')}:4:12: steps[0].agent: unknown agent "scout"`,
    );
  });

  it('reports a missing and a malformed file, one line each', () => {
    const reports = validateFiles([file('nope.yaml'), file('broken.yaml')], config, {});
    expect(reports.every((r) => !r.valid)).toBe(true);
    const { out, err } = formatReports(reports);
    expect(out).toBe('');
    expect(err).toContain(`${file('nope.yaml')}: cannot read: ENOENT`);
    expect(err).toMatch(new RegExp(`${file('broken.yaml')}:3:1: malformed YAML`));
  });
});
