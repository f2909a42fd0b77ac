import { describe, expect, it } from 'vitest';
import { ValidationError, type Issue } from '../../src/errors/index.js';
import { compileWorkflow } from '../../src/compile/compile.js';

const agents = ['research', 'content', 'review', 'code', 'synthesizer'];

/** A minimal step; `extra` overrides or adds fields. */
const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, agent: 'research', input: { task: `do ${id}` }, ...extra });
const wf = (steps: unknown[], extra: Record<string, unknown> = {}) => ({ name: 'test', steps, ...extra });
const compile = (def: unknown) => compileWorkflow(def, { agents });

/** The ValidationError a definition raises (fails the test when it compiles). */
function errorOf(def: unknown): ValidationError {
  try {
    compile(def);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected the workflow to be invalid');
}
const issuesOf = (def: unknown): Issue[] => errorOf(def).issues;
const deps = (def: unknown) => Object.fromEntries(compile(def).steps.map((s) => [s.id, s.dependsOn]));

describe('compileWorkflow: sugar expansion', () => {
  it('chains the items of a sequential block', () => {
    expect(deps(wf([{ sequential: [step('a'), step('b'), step('c')] }]))).toEqual({ a: [], b: ['a'], c: ['b'] });
  });

  it('adds no edges between the items of a parallel block or of the top-level list', () => {
    expect(deps(wf([{ parallel: [step('a'), step('b')] }, step('c')]))).toEqual({ a: [], b: [], c: [] });
  });

  it('makes every entry of a block after a parallel block depend on every exit of it (fan-in)', () => {
    const def = wf([{ sequential: [{ parallel: [step('a'), step('b')] }, step('c')] }]);
    expect(deps(def)).toEqual({ a: [], b: [], c: ['a', 'b'] });
  });

  it('expands a diamond: analyse → {fixes, security} → synthesize', () => {
    const def = wf([{ sequential: [step('analyse'), { parallel: [step('fixes'), step('security')] }, step('synthesize')] }]);
    const compiled = compile(def);
    expect(deps(def)).toEqual({ analyse: [], fixes: ['analyse'], security: ['analyse'], synthesize: ['fixes', 'security'] });
    expect(compiled.output).toEqual(['synthesize']);
  });

  it('composes nested blocks: the exits of a nested sequence are its last items', () => {
    const def = wf([
      {
        sequential: [step('start'), { parallel: [{ sequential: [step('a1'), step('a2')] }, { sequential: [step('b1'), step('b2')] }] }, step('end')],
      },
    ]);
    expect(deps(def)).toEqual({ start: [], a1: ['start'], a2: ['a1'], b1: ['start'], b2: ['b1'], end: ['a2', 'b2'] });
  });

  it('uses explicit dependsOn inside a block to find its entries and exits', () => {
    // Inside the parallel block, b waits for a: a is the only entry, b the only exit.
    const def = wf([{ sequential: [step('x'), { parallel: [step('a'), step('b', { dependsOn: ['a'] })] }, step('y')] }]);
    expect(deps(def)).toEqual({ x: [], a: ['x'], b: ['a'], y: ['b'] });
  });

  it('merges explicit dependsOn with sugar edges, sorted and deduplicated', () => {
    const def = wf([step('z'), step('m'), { sequential: [step('a'), step('b', { dependsOn: ['z', 'a', 'm', 'z'] })] }]);
    expect(deps(def).b).toEqual(['a', 'm', 'z']);
  });
});

describe('compileWorkflow: order and output', () => {
  it('orders steps topologically, keeping definition order among ready steps', () => {
    const def = wf([step('d', { dependsOn: ['c'] }), step('a'), step('c', { dependsOn: ['b'] }), step('b'), step('e')]);
    expect(compile(def).steps.map((s) => s.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('defaults output to the sink steps in topological order', () => {
    const def = wf([step('report', { dependsOn: ['research'] }), step('research'), step('side')]);
    expect(compile(def).output).toEqual(['report', 'side']);
  });

  it('keeps an explicit output', () => {
    expect(compile(wf([step('a'), step('b', { dependsOn: ['a'] })], { output: ['a', 'b'] })).output).toEqual(['a', 'b']);
  });

  it('fills defaults and copies step options', () => {
    const compiled = compileWorkflow(
      wf([step('a', { timeoutMs: 1000, attempts: 2, optional: true, when: 'input.go' })], { input: { go: { type: 'boolean' } } }),
      {
        agents,
        source: 'flows/test.yaml',
      },
    );
    expect(compiled).toMatchObject({ name: 'test', description: '', source: 'flows/test.yaml', input: { go: { type: 'boolean', required: true } } });
    expect(compiled.steps[0]).toEqual({
      id: 'a',
      kind: 'agent',
      agent: 'research',
      input: { task: 'do a' },
      dependsOn: [],
      when: 'input.go',
      timeoutMs: 1000,
      attempts: 2,
      optional: true,
      allowSkippedDeps: false,
      reads: [],
    });
    expect(compile(wf([step('a')])).source).toBe('inline');
  });

  it('records the steps each step reads (templates and when, deduplicated) for the worker', () => {
    const compiled = compile(
      wf([
        step('a'),
        step('b', { dependsOn: ['a'] }),
        step('c', { dependsOn: ['b'], input: { task: '{{steps.a.output}} {{steps.b.output.x}} {{steps.a.output}}' }, when: 'steps.b.status == "succeeded"' }),
      ]),
    );
    expect(Object.fromEntries(compiled.steps.map((s) => [s.id, s.reads]))).toEqual({ a: [], b: [], c: ['a', 'b'] });
  });
});

describe('compileWorkflow: structural errors', () => {
  it('reports schema problems with readable paths, inside sugar blocks too', () => {
    const issues = issuesOf(wf([step('a'), { parallel: [{ id: 'b', input: { task: 'x' } }, step('c', { colour: 'red' })] }]));
    expect(issues).toContainEqual({ path: 'steps[1].parallel[0].agent', message: 'is required (string)' });
    expect(issues).toContainEqual({ path: 'steps[1].parallel[1].colour', message: 'unknown key "colour"' });
  });

  it('explains a value that is neither a step nor a block', () => {
    expect(issuesOf(wf([step('a'), 42]))).toEqual([{ path: 'steps[1]', message: expect.stringContaining('expected a step') }]);
  });

  it('reports an empty block and an invalid name', () => {
    const err = errorOf({ name: 'Bad Name', steps: [{ sequential: [] }] });
    expect(err.issues.map((i) => i.path)).toEqual(['name', 'steps[0].sequential']);
    expect(err.message).toContain('workflow "Bad Name" is invalid');
  });
});

describe('compileWorkflow: graph errors', () => {
  it('rejects duplicate step ids, naming the first definition', () => {
    expect(issuesOf(wf([step('a'), { parallel: [step('a')] }]))).toEqual([
      { path: 'steps[1].parallel[0].id', message: 'duplicate step id "a" (first defined at steps[0])' },
    ]);
  });

  it('rejects an unknown agent and lists the known ones', () => {
    const [issue] = issuesOf(wf([step('a', { agent: 'wizard' })]));
    expect(issue).toEqual({ path: 'steps[0].agent', message: 'unknown agent "wizard"; known agents: code, content, research, review, synthesizer' });
  });

  it('rejects unknown ids and self-references in dependsOn', () => {
    expect(issuesOf(wf([step('a', { dependsOn: ['ghost'] }), step('b', { dependsOn: ['a', 'b'] })]))).toEqual([
      { path: 'steps[0].dependsOn[0]', message: 'unknown step "ghost" in dependsOn; steps: a, b' },
      { path: 'steps[1].dependsOn[1]', message: 'step "b" depends on itself' },
    ]);
  });

  it('names a cycle with its members in execution order', () => {
    const issues = issuesOf(wf([step('a', { dependsOn: ['c'] }), step('b', { dependsOn: ['a'] }), step('c', { dependsOn: ['b'] }), step('d')]));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps[0]');
    expect(issues[0]?.message).toMatch(/^cycle: a → b → c → a/);
  });

  it('finds a cycle made of sugar and explicit edges, and reports each cycle once', () => {
    const issues = issuesOf(
      wf([{ sequential: [step('a', { dependsOn: ['b'] }), step('b')] }, step('x', { dependsOn: ['y'] }), step('y', { dependsOn: ['x'] })]),
    );
    expect(issues.map((i) => i.message.split(' (')[0])).toEqual(['cycle: a → b → a', 'cycle: x → y → x']);
  });

  it('rejects unknown ids in output', () => {
    expect(issuesOf(wf([step('a')], { output: ['a', 'nope'] }))).toEqual([{ path: 'output[1]', message: 'unknown step "nope" in output; steps: a' }]);
  });
});

describe('compileWorkflow: template and when references', () => {
  const input = { topic: { type: 'string' } };

  it('accepts references to declared input and to transitive ancestors', () => {
    const def = wf(
      [
        {
          sequential: [
            step('a'),
            step('b'),
            step('c', {
              input: { task: '{{ steps.a.output.x }} {{input.topic}}', context: { b: ['{{ steps.b.output }}'] } },
              when: 'steps.a.status == "succeeded"',
            }),
          ],
        },
      ],
      { input },
    );
    expect(compile(def).steps.map((s) => s.id)).toEqual(['a', 'b', 'c']);
  });

  it('rejects a reference to a step that is not an ancestor and suggests dependsOn', () => {
    const [issue] = issuesOf(wf([step('a'), step('b', { input: { task: 'x', context: { prev: 'see {{ steps.a.output }}' } } })]));
    expect(issue?.path).toBe('steps[1].input.context.prev');
    expect(issue?.message).toContain('reads step "a", which is not an ancestor of "b"');
    expect(issue?.message).toContain('add "a" to dependsOn of "b"');
  });

  it('rejects unknown steps, the step itself, undeclared input fields and unsupported forms', () => {
    const issues = issuesOf(
      wf([step('a', { input: { task: '{{ steps.ghost.output }} {{ steps.a.output }} {{ input.nope }} {{ foo }}', context: { list: ['{{steps.x}}'] } } })], {
        input,
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      'steps[0].input.task',
      'steps[0].input.task',
      'steps[0].input.task',
      'steps[0].input.task',
      'steps[0].input.context.list[0]',
    ]);
    expect(issues[0]?.message).toContain('unknown step "ghost"');
    expect(issues[1]?.message).toContain('the step itself');
    expect(issues[2]?.message).toBe('template {{ input.nope }} reads input field "nope", which is not declared in input (declared: topic)');
    expect(issues[3]?.message).toContain('invalid template {{ foo }}');
    expect(issues[4]?.message).toContain('invalid template {{steps.x}}');
  });

  it('checks when expressions: syntax, step ancestry and input fields', () => {
    const issues = issuesOf(
      wf([step('a'), step('b', { when: 'steps.a.output.ok' }), step('c', { dependsOn: ['a'], when: 'input.missing > 1' }), step('d', { when: 'eval("1")' })]),
    );
    expect(issues.map((i) => i.path)).toEqual(['steps[1].when', 'steps[2].when', 'steps[3].when']);
    expect(issues[0]?.message).toContain('not an ancestor of "b"');
    expect(issues[1]?.message).toContain('input field "missing"');
    expect(issues[2]?.message).toContain('unknown function "eval"');
  });

  it('checks input defaults and the schedule input against the declared fields', () => {
    const issues = issuesOf(
      wf([step('a')], {
        input: { n: { type: 'number', default: 'three' }, topic: { type: 'string' } },
        schedule: { cron: '0 9 * * 1', input: { topik: 'x' } },
      }),
    );
    expect(issues).toContainEqual({ path: 'input.n.default', message: 'default does not match type number' });
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(['schedule.input.topic', 'schedule.input.topik']));
  });

  it('limits a scheduled workflow name to 95 characters, since its schedule id is flow.<name> (at most 100)', () => {
    const schedule = { cron: '0 9 * * 1' };
    expect(compile(wf([step('a')], { name: 'n'.repeat(95), schedule })).schedule).toEqual({ cron: '0 9 * * 1', input: {} });
    // Unscheduled, the workflow name itself may use all 100 characters.
    expect(compile(wf([step('a')], { name: 'n'.repeat(100) })).name).toHaveLength(100);
    for (const length of [96, 100]) {
      const err = errorOf(wf([step('a')], { name: 'n'.repeat(length), schedule }));
      expect(err.issues).toEqual([{ path: 'name', message: expect.stringContaining('at most 95 characters') }]);
      expect(err.issues[0]?.message).toContain('flow.<name>');
    }
  });
});

describe('compileWorkflow: collecting problems', () => {
  it('reports every problem at once in one ValidationError whose message lists them', () => {
    const err = errorOf(
      wf(
        [
          step('a', { agent: 'wizard', dependsOn: ['ghost'] }),
          step('a'),
          step('b', { input: { task: '{{ input.x }}' } }),
          step('c', { dependsOn: ['d'] }),
          step('d', { dependsOn: ['c'] }),
        ],
        {
          output: ['zzz'],
        },
      ),
    );
    expect(err.issues.map((i) => i.path)).toEqual(['steps[0].agent', 'steps[1].id', 'steps[0].dependsOn[0]', 'steps[3]', 'steps[2].input.task', 'output[0]']);
    expect(err.message).toMatch(/^workflow "test" is invalid \(6 problems\):/);
    for (const issue of err.issues) expect(err.message).toContain(`${issue.path}: ${issue.message}`);
  });
});
