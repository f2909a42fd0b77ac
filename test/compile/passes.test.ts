/** The compiler's passes (src/compile/passes/), each run by itself over the draft the passes before it leave. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BOUNDS } from '../../src/config/env.js';
import { ValidationError } from '../../src/errors/index.js';
import { emit } from '../../src/compile/passes/emit.js';
import { expandPass, roundStepId } from '../../src/compile/passes/expand.js';
import { findCycles, graphPass, topoOrder } from '../../src/compile/passes/graph.js';
import { exclusiveUpstream, joinsPass } from '../../src/compile/passes/joins.js';
import { parseWorkflow } from '../../src/compile/passes/parse.js';
import { referencesPass } from '../../src/compile/passes/references.js';
import { newState, type CompileState } from '../../src/compile/passes/state.js';
import { stepsPass } from '../../src/compile/passes/steps.js';
import { workflowPass } from '../../src/compile/passes/workflow.js';
import { thrownBy } from '../helpers/errors.js';

const agents = ['research', 'content'];
const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, agent: 'research', input: { task: `do ${id}` }, ...extra });
const PASSES = [expandPass, stepsPass, graphPass, joinsPass, referencesPass, workflowPass];

/** The draft once the first `n` checking passes have run over `steps` (and the workflow's `extra` fields). */
function after(n: number, steps: unknown[], extra: Record<string, unknown> = {}): CompileState {
  const state = newState(parseWorkflow({ name: 'w', steps, ...extra }, 'inline', DEFAULT_BOUNDS), { agents, bounds: DEFAULT_BOUNDS });
  for (const pass of PASSES.slice(0, n)) pass(state);
  return state;
}
const deps = (state: CompileState) => Object.fromEntries(state.drafts.map((d) => [d.def.id, [...d.deps].sort()]));
const messages = (state: CompileState) => state.issues.map((i) => `${i.path}: ${i.message}`);

describe('parse', () => {
  it('stops at the first bound, naming the workflow, before zod walks the definition', () => {
    const tooMany = { name: 'big', steps: Array.from({ length: 3 }, (_, i) => step(`s${i}`)) };
    const err = thrownBy(ValidationError, () => parseWorkflow(tooMany, 'inline', { ...DEFAULT_BOUNDS, maxSteps: 2 }));
    expect(err.message).toContain('workflow "big" is invalid (1 problem)');
    expect(err.issues).toEqual([{ path: 'steps', message: 'the workflow has 3 steps; at most 2 (SWITCHYARD_MAX_STEPS)' }]);
  });

  it('refuses an input field named __proto__, which zod would drop silently', () => {
    const def = JSON.parse('{"name": "w", "input": {"__proto__": {"type": "string"}}, "steps": [{"id": "a", "agent": "research", "input": {"task": "t"}}]}');
    expect(thrownBy(ValidationError, () => parseWorkflow(def, 'inline', DEFAULT_BOUNDS)).issues[0]!.path).toBe('input.__proto__');
  });
});

describe('expand', () => {
  it('chains a sequence from the exits of one item to the entries of the next', () => {
    const state = after(1, [{ sequential: [{ parallel: [step('a'), step('b')] }, step('c')] }]);
    expect(deps(state)).toEqual({ a: [], b: [], c: ['a', 'b'] });
    expect(state.drafts.map((d) => d.path)).toEqual(['steps[0].sequential[0].parallel[0]', 'steps[0].sequential[0].parallel[1]', 'steps[0].sequential[1]']);
  });

  it('runs a block with rounds once per round, each round after its own previous one, synchronised every syncEvery rounds', () => {
    const state = after(1, [{ parallel: [step('a'), step('b')], rounds: 3, syncEvery: 2 }]);
    expect(state.drafts.map((d) => d.def.id)).toEqual(['a-r1', 'b-r1', 'a-r2', 'b-r2', 'a-r3', 'b-r3']);
    // Round 2 follows its own round 1 only; round 3 comes after a synchronisation: every item of round 2.
    expect(deps(state)).toMatchObject({ 'a-r2': ['a-r1'], 'a-r3': ['a-r2', 'b-r2'], 'b-r3': ['a-r2', 'b-r2'] });
    expect(roundStepId('a', 3)).toBe('a-r3');
  });

  it('gives a pattern block its own step ids, its dependsOn on its first steps', () => {
    const state = after(1, [
      step('pre'),
      {
        pattern: 'parallel',
        id: 'p',
        tasks: [
          { agent: 'research', task: 'x' },
          { agent: 'content', task: 'y' },
        ],
        dependsOn: ['pre'],
      },
    ]);
    expect(deps(state)).toEqual({ pre: [], 'p-t1': ['pre'], 'p-t2': ['pre'], 'p-results': ['p-t1', 'p-t2'] });
  });

  it('reports what a pattern cannot do, and the steps past the maximum once rounds are counted', () => {
    const state = newState(parseWorkflow({ name: 'w', steps: [{ parallel: [step('a'), step('b')], rounds: 2 }] }, 'inline', DEFAULT_BOUNDS), {
      agents,
      bounds: { ...DEFAULT_BOUNDS, maxSteps: 3 },
    });
    expandPass(state);
    expect(messages(state)).toEqual(['steps: the workflow has 4 steps once its rounds are counted; at most 3 (SWITCHYARD_MAX_STEPS)']);
    const vote = after(1, [{ pattern: 'hierarchical', id: 'h', task: 'main', tasks: [{ agent: 'research', task: 'x' }], aggregate: 'vote' }]);
    expect(messages(vote)).toEqual(['steps[0].tasks: aggregate: vote needs at least 2 tasks (each answer is a vote)']);
  });
});

describe('steps', () => {
  it('keeps the first definition of a duplicated id, and checks each step by its kind', () => {
    const state = after(2, [step('a'), step('a', { agent: 'content' }), step('b', { agent: 'nobody', dependsOn: ['b', 'zz'] })]);
    expect(state.ids).toEqual(['a', 'b']);
    expect(state.byId.get('a')!.path).toBe('steps[0]');
    expect(messages(state)).toEqual([
      'steps[1].id: duplicate step id "a" (first defined at steps[0])',
      'steps[2].agent: unknown agent "nobody"; known agents: content, research',
      'steps[2].dependsOn[0]: step "b" depends on itself',
      'steps[2].dependsOn[1]: unknown step "zz" in dependsOn; steps: a, b',
    ]);
  });
});

describe('graph', () => {
  it('keeps only known dependencies, sorted, and lists the dependents', () => {
    const state = after(3, [step('c'), step('a', { dependsOn: ['c', 'zz'] }), step('b', { dependsOn: ['c'] })]);
    expect(Object.fromEntries(state.deps)).toEqual({ c: [], a: ['c'], b: ['c'] });
    expect(state.dependents.get('c')).toEqual(['a', 'b']);
  });

  it('names each cycle once, from its earliest-defined member, by the shortest way back', () => {
    const dependents = new Map([
      ['a', ['b']],
      ['b', ['c', 'a']],
      ['c', ['a']],
      ['d', ['e']],
      ['e', ['d']],
    ]);
    expect(findCycles(['a', 'b', 'c', 'd', 'e'], dependents)).toEqual([
      ['a', 'b', 'a'],
      ['d', 'e', 'd'],
    ]);
  });

  it('orders topologically, the earliest defined first among the ready steps', () => {
    const ids = ['z', 'y', 'x', 'w'];
    const deps = new Map([
      ['z', ['x']],
      ['y', []],
      ['x', []],
      ['w', ['y']],
    ]);
    const dependents = new Map([
      ['z', []],
      ['y', ['w']],
      ['x', ['z']],
      ['w', []],
    ]);
    expect(topoOrder(ids, deps, dependents)).toEqual(['y', 'x', 'z', 'w']);
  });
});

describe('joins', () => {
  it('makes the members of a join optional and tells each early join member of it, with what feeds only that member', () => {
    const state = after(4, [step('u'), step('a', { dependsOn: ['u'] }), step('b'), step('c', { dependsOn: ['a', 'b'], join: 'any' })]);
    expect([...state.madeOptional].sort()).toEqual(['a', 'b']);
    const watch = { step: 'c', label: 'any', need: 1, members: ['a', 'b'], upstream: { a: ['u'] } };
    expect(state.joinWatches.get('a')).toEqual([watch]);
    expect(state.joinWatches.get('b')).toEqual([watch]);
    expect(state.joinWatches.has('u')).toBe(false);
  });

  it('leaves out of a member upstream a step that feeds another step, or the workflow output', () => {
    const shared = after(3, [step('u'), step('a', { dependsOn: ['u'] }), step('b', { dependsOn: ['u'] })]);
    expect(exclusiveUpstream(shared, 'a')).toEqual([]);
    const output = after(3, [step('u'), step('a', { dependsOn: ['u'] })], { output: ['a', 'u'] });
    expect(exclusiveUpstream(output, 'a')).toEqual([]);
    const chain = after(3, [step('u'), step('v', { dependsOn: ['u'] }), step('a', { dependsOn: ['v'] })]);
    expect(exclusiveUpstream(chain, 'a')).toEqual(['u', 'v']);
  });

  it('refuses a join that cannot be met, or whose members feed another step', () => {
    const state = after(4, [step('a'), step('b'), step('c', { dependsOn: ['a', 'b'], join: { quorum: 3 } }), step('d', { dependsOn: ['a'] })]);
    expect(messages(state)).toEqual([
      'steps[2].join: a quorum of 3 needs at least 3 dependencies; "c" has 2',
      'steps[2].join: join: {quorum: 3} cancels the steps it no longer needs, so they may feed no other step; "a" is also a dependency of "d"',
    ]);
  });
});

describe('references', () => {
  it('keeps the steps and the context names each step reads', () => {
    const state = after(5, [
      step('a', { publish: ['topic'] }),
      step('b', { dependsOn: ['a'], when: 'steps.a.status == "succeeded"', input: { task: '{{steps.a.output}} on {{context.topic}}' } }),
    ]);
    expect(state.issues).toEqual([]);
    expect([...state.reads.get('b')!]).toEqual(['a']);
    expect([...state.contextReads.get('b')!]).toEqual(['topic']);
  });

  it('refuses a read of a step that is not an ancestor, and a context name a concurrent step also publishes', () => {
    const state = after(5, [
      step('a', { publish: ['x'] }),
      step('z', { publish: ['x'] }),
      step('b', { dependsOn: ['a'], input: { task: '{{steps.z.output}} {{context.x}}' } }),
    ]);
    expect(state.issues.map((i) => i.path)).toEqual(['steps[2].input.task', 'steps[2].input.task']);
    expect(state.issues[0]!.message).toContain('reads step "z", which is not an ancestor of "b"');
    expect(state.issues[1]!.message).toContain('which "z" also publishes and may run at the same time as "b"');
  });
});

describe('workflow and emit', () => {
  it('refuses an unknown output step', () => {
    expect(messages(after(6, [step('a')], { output: ['zz'] }))).toEqual(['output[0]: unknown step "zz" in output; steps: a']);
  });

  it('emits the steps in topological order with what the passes found', () => {
    const state = after(6, [step('b', { dependsOn: ['a'], publish: true }), step('a')]);
    const wf = emit(state, 'inline');
    expect(wf.steps.map((s) => s.id)).toEqual(['a', 'b']);
    expect(wf.steps[1]).toMatchObject({ dependsOn: ['a'], toContext: { fields: 'all', order: 1, byAuthority: false } });
    expect(wf.output).toEqual(['b']);
  });
});
