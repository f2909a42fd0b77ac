/**
 * The workflows API: list and read the named workflows, validate a definition (every problem
 * answered 422 with a message naming its place), and start runs of named or inline workflows
 * whose input is checked against the workflow's declared fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;

const BRIEF = {
  name: 'brief',
  description: 'Research a topic, then write a brief.',
  input: {
    topic: { type: 'string', description: 'What to research' },
    depth: { type: 'number', required: false },
    audience: { type: 'string', default: 'engineers' },
  },
  steps: [
    {
      sequential: [
        { id: 'research', agent: 'researcher', input: { task: 'Research {{input.topic}} (depth {{input.depth}})' } },
        { id: 'write', agent: 'writer', input: { task: 'Write for {{input.audience}}: {{steps.research.output}}' } },
      ],
    },
  ],
};

beforeAll(async () => {
  h = await startHarness({
    name: 'api-workflows',
    agents: {
      researcher: { provider: 'echo', echo: { latencyMs: 10 }, attempts: 1 },
      writer: { provider: 'echo', echo: { latencyMs: 10 }, attempts: 1 },
    },
    workflows: [BRIEF, { name: 'other', steps: [{ id: 'only', agent: 'writer', input: { task: 'hello' } }] }],
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, agent: 'writer', input: { task: `do ${id}` }, ...extra });
const validate = (def: unknown) => h.request('POST', '/v1/workflows/validate', def);

interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

/** The issue at `path` of a 422 answer; its message must also be in the error message. */
function issueAt(res: { status: number; body: ErrorBody }, path: string): string {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  const issue = res.body.error.issues?.find((i) => i.path === path);
  expect(issue, `an issue at ${path} in ${JSON.stringify(res.body.error.issues)}`).toBeDefined();
  expect(res.body.error.message).toContain(path);
  expect(res.body.error.message).toContain(issue!.message);
  return issue!.message;
}

describe('reading workflows', () => {
  it('lists the named workflows with their steps and input', async () => {
    const res = await h.request('GET', '/v1/workflows');
    expect(res.status).toBe(200);
    const names = (res.body.workflows as { name: string }[]).map((w) => w.name).sort();
    expect(names).toEqual(['brief', 'other']);
    const brief = (res.body.workflows as { name: string }[]).find((w) => w.name === 'brief');
    expect(brief).toMatchObject({ name: 'brief', description: 'Research a topic, then write a brief.', output: ['write'] });
  });

  it('returns one workflow compiled: sugar turned into dependsOn, in topological order', async () => {
    const res = await h.request('GET', '/v1/workflows/brief');
    expect(res.status).toBe(200);
    expect(res.body.steps.map((s: { id: string; dependsOn: string[] }) => [s.id, s.dependsOn])).toEqual([
      ['research', []],
      ['write', ['research']],
    ]);
    expect(res.body.input).toMatchObject({
      topic: { type: 'string', required: true },
      depth: { type: 'number', required: false },
      audience: { default: 'engineers' },
    });
  });

  it('shows a field with a default as not required (a caller may leave it out)', async () => {
    const res = await h.request('GET', '/v1/workflows/brief');
    expect(res.body.input.audience).toEqual({ type: 'string', default: 'engineers', required: false });
  });

  it('answers 404 for an unknown workflow', async () => {
    const res = await h.request('GET', '/v1/workflows/no-such-flow');
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('no-such-flow');
  });
});

describe('POST /v1/workflows/validate', () => {
  it('answers 200 with the compiled workflow for a valid definition', async () => {
    const res = await validate({
      name: 'fan-out',
      steps: [
        {
          sequential: [
            step('plan'),
            { parallel: [step('left'), step('right')] },
            step('merge', { input: { task: '{{steps.left.output}} {{steps.right.output}}' } }),
          ],
        },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.valid).toBe(true);
    const wf = res.body.workflow;
    expect(wf).toMatchObject({ name: 'fan-out', source: 'inline', output: ['merge'] });
    expect(Object.fromEntries(wf.steps.map((s: { id: string; dependsOn: string[] }) => [s.id, s.dependsOn]))).toEqual({
      plan: [],
      left: ['plan'],
      right: ['plan'],
      merge: ['left', 'right'],
    });
    expect(wf.steps[0].id).toBe('plan');
    expect(wf.steps[3].id).toBe('merge');
  });

  it('names the members of a cycle', async () => {
    const res = await validate({ name: 'loop', steps: [step('a', { dependsOn: ['c'] }), step('b', { dependsOn: ['a'] }), step('c', { dependsOn: ['b'] })] });
    const message = issueAt(res, 'steps[0]');
    expect(message).toContain('cycle');
    expect(message).toContain('a → b → c → a');
  });

  it('names an unknown agent and lists the known ones', async () => {
    const res = await validate({ name: 'agents', steps: [step('a'), { id: 'b', agent: 'ghostwriter', input: { task: 'x' } }] });
    const message = issueAt(res, 'steps[1].agent');
    expect(message).toContain('ghostwriter');
    expect(message).toContain('researcher, writer');
  });

  it('names an unknown id in dependsOn', async () => {
    const res = await validate({ name: 'deps', steps: [step('a'), step('b', { dependsOn: ['a', 'ghost'] })] });
    const message = issueAt(res, 'steps[1].dependsOn[1]');
    expect(message).toContain('"ghost"');
  });

  it('names a duplicated step id and where it was first defined', async () => {
    const res = await validate({ name: 'dupes', steps: [step('a'), { parallel: [step('b'), step('a')] }] });
    const message = issueAt(res, 'steps[1].parallel[1].id');
    expect(message).toContain('duplicate step id "a"');
    expect(message).toContain('steps[0]');
  });

  it('names a template that reads a step which is not an ancestor', async () => {
    const res = await validate({
      name: 'sideways',
      steps: [{ parallel: [step('a'), step('b', { input: { task: 'use {{steps.a.output}}' } })] }],
    });
    const message = issueAt(res, 'steps[0].parallel[1].input.task');
    expect(message).toContain('not an ancestor');
    expect(message).toContain('"a"');
  });

  it('names a template of an unknown form', async () => {
    const res = await validate({
      name: 'typos',
      steps: [step('a'), step('b', { dependsOn: ['a'], input: { task: 'ok', context: { bad: '{{ stesp.a.output }}', worse: '{{steps.a.result}}' } } })],
    });
    expect(issueAt(res, 'steps[1].input.context.bad')).toContain('invalid template {{ stesp.a.output }}');
    expect(issueAt(res, 'steps[1].input.context.worse')).toContain('.output');
  });

  it('names a missing required field of a step', async () => {
    const res = await validate({ name: 'holes', steps: [{ id: 'a', agent: 'writer', input: {} }] });
    expect(issueAt(res, 'steps[0].input.task')).toContain('required');
  });

  it('refuses a body that is not a workflow object with a 4xx, never a 500', async () => {
    // Any JSON value that is not an object is told so (not that it is malformed).
    for (const body of ['[]', 'null', '"just a string"']) {
      const res = await validate(body);
      expect(res.status, body).toBe(400);
      expect(res.body.error.code, body).toBe('invalid_body');
      expect(res.body.error.message, body).toContain('the body must be a JSON object');
    }
  });
});

describe('POST /v1/runs with a workflow', () => {
  it('answers 422 listing the known workflows for an unknown name', async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'no-such-flow', input: {} });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('no-such-flow');
    expect(res.body.error.message).toContain('brief, other');
  });

  it.each([
    ['a missing required field', { depth: 2 }, 'input.topic', 'missing'],
    ['a field of the wrong type', { topic: 'bees', depth: 'deep' }, 'input.depth', 'expected number'],
    ['an unknown field', { topic: 'bees', colour: 'blue' }, 'input.colour', 'unknown input field'],
  ])('answers 422 naming the field for %s', async (_what, input, path, words) => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'brief', input });
    expect(issueAt(res, path)).toContain(words);
    expect((await h.request('GET', '/v1/runs?workflow=brief')).body.runs).toEqual([]);
  });

  it('runs a named workflow with defaults applied to its input', async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'brief', input: { topic: 'bees' } });
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.input).toEqual({ topic: 'bees', audience: 'engineers' });
    expect(run.output).toBe('[writer] Write for engineers: [researcher] Research bees (depth )');
  });

  it('runs an inline workflow definition to succeeded', async () => {
    const inline = {
      name: 'inline-pair',
      input: { subject: { type: 'string' } },
      steps: [
        {
          sequential: [
            { id: 'gather', agent: 'researcher', input: { task: 'Gather {{input.subject}}' } },
            { id: 'present', agent: 'writer', input: { task: 'Present {{steps.gather.output}}' } },
          ],
        },
      ],
    };
    const res = await h.request('POST', '/v1/runs', { workflow: inline, input: { subject: 'otters' } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.workflow).toBe('inline-pair');
    expect(run.output).toBe('[writer] Present [researcher] Gather otters');
    expect(run.dag.edges).toEqual([{ from: 'gather', to: 'present' }]);
  });

  it('answers 422 naming the place for an invalid inline workflow', async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: { name: 'inline-bad', steps: [step('a', { dependsOn: ['nope'] })] }, input: {} });
    expect(issueAt(res, 'steps[0].dependsOn[0]')).toContain('"nope"');
  });
});
