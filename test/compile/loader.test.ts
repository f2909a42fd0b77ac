import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { DEFAULT_BOUNDS } from '../../src/config/env.js';
import { loadWorkflowsDir, parseWorkflowYaml } from '../../src/compile/loader.js';
import { runBoundsIssues } from '../../src/compile/run-bounds.js';
import { thrownBy } from '../helpers/errors.js';

const AGENTS = ['research', 'planner', 'content', 'reporting', 'review', 'code', 'synthesizer', 'tp'];
const FLOWS = path.resolve(import.meta.dirname, '..', '..', 'flows');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchyard-flows-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const flow = (name: string, agent = 'research') => `name: ${name}\nsteps:\n  - id: a\n    agent: ${agent}\n    input:\n      task: do it\n`;

const configError = (fn: () => unknown): ConfigError => thrownBy(ConfigError, fn);

describe('loadWorkflowsDir', () => {
  it('loads every .yaml and .yml file and ignores other files', async () => {
    await writeFile(path.join(dir, 'b.yml'), flow('second'));
    await writeFile(path.join(dir, 'a.yaml'), flow('first'));
    await writeFile(path.join(dir, 'notes.md'), 'not a flow');
    const loaded = loadWorkflowsDir(dir, AGENTS);
    expect([...loaded.keys()]).toEqual(['first', 'second']);
    expect(loaded.get('first')?.source).toBe(path.join(dir, 'a.yaml'));
  });

  it('gives an empty map for a missing directory', () => {
    expect(loadWorkflowsDir(path.join(dir, 'nope'), AGENTS).size).toBe(0);
  });

  it('names the file and line of malformed YAML', async () => {
    await writeFile(path.join(dir, 'broken.yaml'), 'name: broken\nsteps:\n  - id: a\n   agent: [unclosed\n');
    const err = configError(() => loadWorkflowsDir(dir, AGENTS));
    expect(err.message).toMatch(new RegExp(`^${path.join(dir, 'broken.yaml')}:\\d+:\\d+: malformed YAML`));
  });

  it('names the file, the line and the column of each invalid node', async () => {
    await writeFile(path.join(dir, 'bad.yaml'), flow('bad', 'wizard'));
    const err = configError(() => loadWorkflowsDir(dir, AGENTS));
    const file = path.join(dir, 'bad.yaml');
    expect(err.message).toContain(`${file}: invalid workflow (1 problem):`);
    expect(err.message).toContain('line 4, column 12, steps[0].agent: unknown agent "wizard"; known agents: code, content');
    expect(err.issues).toEqual([
      { path: 'steps[0].agent', line: 4, col: 12, message: expect.stringMatching(new RegExp(`^${file}:4:12: steps\\[0\\]\\.agent: unknown agent`)) },
    ]);
  });

  it('reports a duplicate workflow name naming both files', async () => {
    await writeFile(path.join(dir, 'one.yaml'), flow('same'));
    await writeFile(path.join(dir, 'two.yml'), flow('same'));
    const err = configError(() => loadWorkflowsDir(dir, AGENTS));
    expect(err.message).toBe(`workflow "same" is defined in both ${path.join(dir, 'one.yaml')} and ${path.join(dir, 'two.yml')}`);
  });

  it('reports every broken file at once', async () => {
    await writeFile(path.join(dir, 'a.yaml'), flow('a', 'wizard'));
    await writeFile(path.join(dir, 'b.yaml'), '');
    await writeFile(path.join(dir, 'c.yaml'), flow('c'));
    const err = configError(() => loadWorkflowsDir(dir, AGENTS));
    expect(err.message).toContain('2 problems in');
    expect(err.message).toContain(path.join(dir, 'a.yaml'));
    expect(err.message).toContain(`${path.join(dir, 'b.yaml')}: file is empty`);
  });
});

describe('parseWorkflowYaml', () => {
  it('returns the plain document', () => {
    expect(parseWorkflowYaml(flow('x'), 'inline.yaml')).toEqual({ name: 'x', steps: [{ id: 'a', agent: 'research', input: { task: 'do it' } }] });
  });

  it('rejects duplicate keys with the line', () => {
    expect(() => parseWorkflowYaml('name: a\nname: b\n', 'dup.yaml')).toThrow(/^dup\.yaml:2:\d+: malformed YAML/);
  });
});

describe('the example flows/ directory', () => {
  it('loads all the example workflows with the standard agents', () => {
    const loaded = loadWorkflowsDir(FLOWS, AGENTS);
    expect([...loaded.keys()].sort()).toEqual([
      'acquisition-due-diligence',
      'code-with-review',
      'competitor-analysis',
      'consensus-check',
      'content-refinement',
      'debate',
      'framework-comparison',
      'market-scan',
      'planned-research',
      'pr-review',
      'publish-with-approval',
      'research-plan-implement',
      'research-then-content',
      'research-webhook',
      'thinking-partner',
      'web-app-build',
      'weekly-competitor-monitoring',
    ]);
  });

  it('compiles the shapes the examples promise', () => {
    const loaded = loadWorkflowsDir(FLOWS, AGENTS);
    const shape = (name: string) => Object.fromEntries(loaded.get(name)!.steps.map((s) => [s.id, s.dependsOn]));
    expect(shape('research-then-content')).toEqual({ research: [], content: ['research'] });
    expect(shape('pr-review')).toEqual({ analyse: [], fixes: ['analyse'], security: ['analyse'], synthesize: ['fixes', 'security'] });
    expect(shape('acquisition-due-diligence')).toEqual({ financial: [], legal: ['financial'], market: [], synthesis: ['legal', 'market'] });
    expect(loaded.get('acquisition-due-diligence')!.steps.find((s) => s.id === 'legal')?.optional).toBe(true);
    expect(shape('competitor-analysis').synthesis).toEqual(['research_a', 'research_b', 'research_c']);
    expect(shape('research-plan-implement')).toEqual({ research: [], plan: ['research'], implement: ['plan'] });
    expect(shape('research-webhook')).toEqual({ research: [], notify: ['research'] });
    expect(loaded.get('research-webhook')!.steps.find((s) => s.id === 'notify')).toMatchObject({ kind: 'http', method: 'POST', url: '{{ input.webhookUrl }}' });
    expect(loaded.get('framework-comparison')!.steps.find((s) => s.id === 'comparison')?.join).toBe('bestEffort');
    expect(shape('debate')).toMatchObject({ 'pro-r3': ['con-r2', 'pro-r2'], verdict: ['con-r3', 'pro-r3'] });
    const weekly = loaded.get('weekly-competitor-monitoring')!;
    expect(weekly.schedule).toMatchObject({ cron: '0 9 * * 1', tz: 'UTC' });
    expect(weekly.output).toEqual(['post']);
  });

  it('refuses at submit a competitor list longer than weekly-competitor-monitoring takes (51 were accepted, then failed)', () => {
    const weekly = loadWorkflowsDir(FLOWS, AGENTS).get('weekly-competitor-monitoring')!;
    const competitors = (n: number) => ({ competitors: Array.from({ length: n }, (_, i) => `Company ${i}`) });
    expect(runBoundsIssues(weekly, competitors(50), DEFAULT_BOUNDS)).toEqual([]);
    expect(runBoundsIssues(weekly, competitors(51), DEFAULT_BOUNDS)).toEqual([
      {
        path: 'steps.research.items',
        message: 'step "research": its list (from the run input) has 51 items; at most 50 (its maxItems; with truncate: true it takes the first 50)',
      },
    ]);
  });
});
