/**
 * Workflow compiler: definition (YAML/JSON, untrusted) → CompiledWorkflow (validated DAG).
 *
 * 1. zod-parse with WorkflowDefinition, turning zod issues into readable paths.
 * 2. Expand sugar. The top-level `steps` list adds no edges (order comes from dependsOn and
 *    blocks). In `sequential: [a, b]` every entry step of b depends on every exit step of a,
 *    where entry = no dependency inside its block, exit = nothing inside its block depends on it.
 *    `parallel` adds no edges. Explicit dependsOn is kept and merged.
 * 3. Validate the graph, collecting every problem, and throw one ValidationError listing them.
 * 4. Order the steps topologically (stable: definition order among ready steps).
 */
import type { z } from 'zod';
import { ValidationError, type Issue } from '../errors/index.js';
import { FLOW_SCHEDULE_PREFIX, SCHEDULE_ID_MAX_LENGTH, ScheduleId } from '../model/schedule.js';
import { cronProblem } from '../lang/cron.js';
import {
  STEP_DEFINITIONS,
  WorkflowDefinition,
  type Block,
  type CompiledStep,
  type CompiledWorkflow,
  type JoinWatch,
  type PatternBlock,
  StepDefinition,
  type StepDefinitionOf,
  type StepKind,
} from '../kinds/definition.js';
import { patternProblem, patternSteps } from './patterns.js';
import { parseWhen, whenRefs } from '../lang/expression.js';
import { fieldValueSchema, kindOf, validateInputFields } from './input.js';
import { ruleOf } from '../kinds/rules.js';
import type { KindRule, RequestCaps } from '../kinds/compile-rule.js';
import { DEFAULT_LIMITS, type Limits } from '../config/env.js';
import { assertDepth, countSteps } from './limits.js';
import { findTemplateRefs } from '../lang/templates.js';
import { stepSchemaIssues, type SchemaHandling } from './output-schemas.js';

/** What a step publishes into its run's context (an approval step's `publish` is its gate's own). */
const contextPublish = (def: StepDefinition | undefined): true | string[] | { as: string } | undefined =>
  def === undefined || def.kind === 'approval' ? undefined : def.publish;

/** Most dependencies of a join that may start early (`any`, `quorum`): each of them carries the list. */
export const MAX_EARLY_JOIN = 100;

export interface CompileOptions {
  /** Agent types a step may name. */
  agents: readonly string[];
  /** Most steps and deepest nesting (default: SWITCHYARD_MAX_STEPS and SWITCHYARD_MAX_JSON_DEPTH defaults). */
  limits?: Limits;
  /** Where the definition came from (file path); default "inline". */
  source?: string;
  /** A definition a request brings: the most orchestration its steps may ask for. */
  caps?: RequestCaps;
  /**
   * Each step's output schema, once within the bounds: compiled now, on this thread (default:
   * definitions read at start-up), or handed to this function to be compiled off the event
   * loop (an inline definition: see WorkflowCatalog).
   */
  schemas?: SchemaHandling;
}

/** A step during compilation: its definition, its place in the document, and all its direct dependencies. */
interface Draft {
  def: StepDefinition;
  path: string;
  deps: Set<string>;
}

type Segment = PropertyKey;

/** `['steps', 1, 'parallel', 0, 'agent']` → `steps[1].parallel[0].agent`. */
function formatPath(segments: readonly Segment[], base = ''): string {
  let out = base;
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (typeof s === 'string' && /^[A-Za-z_$][\w$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly Segment[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** zod issues → our issues. A failed Block union is explained by the branch the author meant. */
function fromZod(issues: readonly z.core.$ZodIssue[], root: unknown, base: readonly Segment[] = []): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const value = valueAt(root, path);
    if (issue.code === 'invalid_union') {
      // Block is z.union([sequential, parallel, pattern, step]) in definition.ts; pick by the keys present.
      const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
      const branch = obj === undefined ? undefined : 'sequential' in obj ? 0 : 'parallel' in obj ? 1 : 'pattern' in obj ? 2 : 3;
      const chosen = branch === undefined ? undefined : issue.errors[branch];
      if (chosen) out.push(...fromZod(chosen, root, path));
      else if ('discriminator' in issue && issue.discriminator === 'pattern') {
        // The issue's path ends at the `pattern` field itself.
        out.push({ path: formatPath(path), message: `unknown pattern ${JSON.stringify(value)}; patterns: sequential, parallel, hierarchical, consensus` });
      } else if ('discriminator' in issue && issue.discriminator === 'kind') {
        // The step's `kind` names no kind.
        out.push({ path: formatPath(path), message: `unknown step kind ${JSON.stringify(value)}; kinds: ${Object.keys(STEP_DEFINITIONS).join(', ')}` });
      } else
        out.push({
          path: formatPath(path),
          message: `expected a step {id, agent, input} or a {sequential: [...]} / {parallel: [...]} block, got ${kindOf(value)}`,
        });
    } else if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: `unknown key "${key}"` });
    } else if (issue.code === 'invalid_type') {
      out.push({
        path: formatPath(path),
        message: value === undefined ? `is required (${issue.expected})` : `expected ${issue.expected}, got ${kindOf(value)}`,
      });
    } else if (issue.code === 'invalid_key') {
      out.push({ path: formatPath(path), message: `invalid name: ${issue.issues.map((i) => i.message).join('; ')}` });
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

function fail(name: string | undefined, source: string | undefined, issues: Issue[]): never {
  const what = `workflow${name ? ` "${name}"` : ''}${source && source !== 'inline' ? ` (${source})` : ''}`;
  const n = issues.length;
  const list = issues.map((i) => `\n  - ${i.path ? `${i.path}: ` : ''}${i.message}`).join('');
  throw new ValidationError(`${what} is invalid (${n} problem${n === 1 ? '' : 's'}):${list}`, issues);
}

/** Flatten blocks into drafts (definition order), adding the edges sugar implies. Returns member indices. */
function expand(block: Block, path: string, drafts: Draft[], issues: Issue[]): number[] {
  if ('pattern' in block) return expandPattern(block, path, drafts, issues);
  if ('parallel' in block && (block.rounds !== undefined || block.syncEvery !== undefined)) return expandRounds(block, path, drafts, issues);
  if ('sequential' in block || 'parallel' in block) {
    const seq = 'sequential' in block;
    const items = seq ? block.sequential : block.parallel;
    const members: number[] = [];
    let prev: number[] | undefined;
    items.forEach((item, i) => {
      const current = expand(item, `${path}.${seq ? 'sequential' : 'parallel'}[${i}]`, drafts, issues);
      if (seq && prev) {
        const exits = exitsOf(prev, drafts).map((x) => drafts[x]!.def.id);
        for (const entry of entriesOf(current, drafts)) {
          const draft = drafts[entry]!;
          for (const id of exits) if (id !== draft.def.id) draft.deps.add(id); // a duplicated id must not become a self-loop
        }
      }
      prev = current;
      for (const m of current) members.push(m);
    });
    return members;
  }
  drafts.push({ def: block, path, deps: new Set(block.dependsOn) });
  return [drafts.length - 1];
}

/** A pattern block: the steps the pattern becomes (see patterns.ts), its `dependsOn` added to its first ones. */
function expandPattern(block: PatternBlock, path: string, drafts: Draft[], issues: Issue[]): number[] {
  const { id, dependsOn, ...req } = block;
  const problem = patternProblem(req);
  if (problem) {
    issues.push({ path: `${path}.${problem.path}`, message: problem.message });
    return [];
  }
  const members: number[] = [];
  for (const raw of patternSteps(req, id).steps) {
    const parsed = StepDefinition.safeParse(raw);
    if (!parsed.success) {
      issues.push(...fromZod(parsed.error.issues, raw).map((i) => ({ ...i, path: `${path} (step ${String(raw.id)})${i.path ? `.${i.path}` : ''}` })));
      continue;
    }
    // The block's dependsOn goes to its first steps, where the compiler checks it like any other.
    const def = parsed.data.dependsOn.length ? parsed.data : { ...parsed.data, dependsOn };
    drafts.push({ def, path: `${path} (step ${def.id})`, deps: new Set(def.dependsOn) });
    members.push(drafts.length - 1);
  }
  return members;
}

/** Round ids: `<id>-r<round>` (so an item id may be at most 60 characters). */
export const roundStepId = (id: string, round: number): string => `${id}-r${round}`;
const MAX_ROUND_BASE_ID = 60;

/** A parallel block with rounds (see Block): each agent item once per round, synchronised every `syncEvery` rounds. */
function expandRounds(
  block: { parallel: Block[]; rounds?: number | undefined; syncEvery?: number | undefined },
  path: string,
  drafts: Draft[],
  issues: Issue[],
): number[] {
  const rounds = block.rounds ?? 1;
  const every = block.syncEvery ?? 1;
  if (block.rounds === undefined) issues.push({ path: `${path}.syncEvery`, message: 'syncEvery needs rounds: the number of rounds the block runs' });
  else if (every > rounds) issues.push({ path: `${path}.syncEvery`, message: `syncEvery (${every}) is more than rounds (${rounds})` });
  const items: StepDefinitionOf<'agent'>[] = [];
  block.parallel.forEach((item, i) => {
    const at = `${path}.parallel[${i}]`;
    if ('sequential' in item || 'parallel' in item || 'pattern' in item || item.kind !== 'agent')
      issues.push({ path: at, message: 'a parallel block with rounds holds agent steps only (each runs once per round)' });
    else if (item.id.length > MAX_ROUND_BASE_ID)
      issues.push({
        path: `${at}.id`,
        message: `in a block with rounds a step id may have at most ${MAX_ROUND_BASE_ID} characters (its rounds are "<id>-r<round>")`,
      });
    else items.push(item);
  });
  const members: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    // The last round after which the block synchronised (0: none yet).
    const synced = Math.floor((r - 1) / every) * every;
    items.forEach((item, i) => {
      const previous = r > 1 ? roundStepId(item.id, r - 1) : undefined;
      const peers =
        synced > 0 ? Object.fromEntries(items.filter((o) => o !== item).map((o) => [o.id, `{{steps.${roundStepId(o.id, synced)}.output}}`])) : undefined;
      const def: StepDefinitionOf<'agent'> = {
        ...item,
        id: roundStepId(item.id, r),
        dependsOn: r === 1 ? item.dependsOn : [],
        input: {
          ...item.input,
          context: { ...item.input.context, round: r, ...(previous ? { previous: `{{steps.${previous}.output}}` } : {}), ...(peers ? { peers } : {}) },
        },
        publish: item.publish ?? { as: item.id },
      };
      const deps = new Set(def.dependsOn);
      if (previous) deps.add(previous);
      // A synchronised round waits for every item of the round before it.
      if (r > 1 && synced === r - 1) for (const o of items) deps.add(roundStepId(o.id, r - 1));
      drafts.push({ def, path: `${path}.parallel[${i}]`, deps });
      members.push(drafts.length - 1);
    });
  }
  return members;
}

function entriesOf(members: number[], drafts: Draft[]): number[] {
  const ids = new Set(members.map((m) => drafts[m]!.def.id));
  return members.filter((m) => ![...drafts[m]!.deps].some((d) => d !== drafts[m]!.def.id && ids.has(d)));
}

function exitsOf(members: number[], drafts: Draft[]): number[] {
  // The ids some other member depends on (in one pass: blocks can hold thousands of steps).
  const needed = new Set<string>();
  for (const o of members) for (const d of drafts[o]!.deps) if (d !== drafts[o]!.def.id) needed.add(d);
  return members.filter((m) => !needed.has(drafts[m]!.def.id));
}

/**
 * One representative cycle per strongly connected component (Tarjan, iterative: a chain of
 * thousands of steps must not exhaust the call stack), each as a closed id list.
 */
function findCycles(ids: string[], dependents: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  for (const root of ids) {
    if (index.has(root)) continue;
    // Each frame: a vertex and how many of its successors it has looked at.
    const frames: { v: string; next: number }[] = [{ v: root, next: 0 }];
    index.set(root, index.size);
    low.set(root, index.get(root)!);
    stack.push(root);
    onStack.add(root);
    while (frames.length) {
      const frame = frames[frames.length - 1]!;
      const succ = dependents.get(frame.v) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, index.size);
          low.set(w, index.get(w)!);
          stack.push(w);
          onStack.add(w);
          frames.push({ v: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.v, Math.min(low.get(frame.v)!, index.get(w)!));
        }
        continue;
      }
      frames.pop();
      const v = frame.v;
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(v)!));
      if (low.get(v) !== index.get(v)) continue;
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(scc);
    }
  }

  // Name each cycle from its earliest-defined member, in execution order, by the shortest way back.
  const order = new Map(ids.map((id, i) => [id, i]));
  const cycles = sccs.map((scc) => {
    const inScc = new Set(scc);
    const start = scc.reduce((a, b) => (order.get(a)! <= order.get(b)! ? a : b));
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length && !prev.has(start)) {
      const v = queue.shift()!;
      for (const w of dependents.get(v) ?? []) {
        if (!inScc.has(w) || prev.has(w)) continue;
        prev.set(w, v);
        if (w !== start) queue.push(w);
      }
    }
    const cycle = [start];
    for (let v = prev.get(start)!; v !== start; v = prev.get(v)!) cycle.unshift(v);
    return [start, ...cycle];
  });
  return cycles.sort((a, b) => order.get(a[0]!)! - order.get(b[0]!)!);
}

/** Stable Kahn: among ready steps the earliest defined goes first (a binary heap by position). Assumes no cycle. */
function topoOrder(ids: string[], deps: Map<string, string[]>, dependents: Map<string, string[]>): string[] {
  const position = new Map(ids.map((id, i) => [id, i]));
  const waiting = new Map(ids.map((id) => [id, deps.get(id)!.length]));
  const heap: number[] = [];
  const push = (p: number) => {
    heap.push(p);
    for (let i = heap.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (heap[up]! <= heap[i]!) break;
      [heap[up], heap[i]] = [heap[i]!, heap[up]!];
      i = up;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]! < heap[m]!) m = l;
        if (r < heap.length && heap[r]! < heap[m]!) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  ids.forEach((id, i) => waiting.get(id) === 0 && push(i));
  const order: string[] = [];
  while (heap.length) {
    const id = ids[pop()]!;
    order.push(id);
    for (const w of dependents.get(id)!) {
      waiting.set(w, waiting.get(w)! - 1);
      if (waiting.get(w) === 0) push(position.get(w)!);
    }
  }
  return order;
}

const listOr = (items: readonly string[], none: string): string => (items.length ? items.join(', ') : none);

/** The rule of a definition's kind, typed for that definition. */
const ruleFor = (def: StepDefinition): KindRule<StepKind> => ruleOf<StepKind>(def.kind);

/** Validate and compile a workflow definition. Throws one ValidationError listing every problem. */
export function compileWorkflow(def: unknown, opts: CompileOptions): CompiledWorkflow {
  const source = opts.source ?? 'inline';
  const limits = opts.limits ?? DEFAULT_LIMITS;
  // Bounded before anything walks it recursively (zod included).
  const name = valueAt(def, ['name']);
  const named = typeof name === 'string' ? name : undefined;
  try {
    assertDepth(def, limits.maxJsonDepth);
  } catch (err) {
    if (err instanceof ValidationError) fail(named, source, err.issues);
    throw err;
  }
  const stepCount = countSteps(valueAt(def, ['steps']));
  if (stepCount > limits.maxSteps) {
    fail(named, source, [{ path: 'steps', message: `the workflow has ${stepCount} steps; at most ${limits.maxSteps} (SWITCHYARD_MAX_STEPS)` }]);
  }
  // zod's records drop an own `__proto__` key silently: a declared field of that name would vanish.
  const declaredInput = valueAt(def, ['input']);
  if (declaredInput !== null && typeof declaredInput === 'object' && Object.hasOwn(declaredInput, '__proto__')) {
    fail(named, source, [{ path: 'input.__proto__', message: 'an input field may not be named "__proto__"' }]);
  }
  const parsed = WorkflowDefinition.safeParse(def);
  if (!parsed.success) fail(named, source, fromZod(parsed.error.issues, def));
  const wf = parsed.data;
  const drafts: Draft[] = [];
  const issues: Issue[] = [];
  wf.steps.forEach((block, i) => expand(block, `steps[${i}]`, drafts, issues));
  if (drafts.length > limits.maxSteps)
    issues.push({
      path: 'steps',
      message: `the workflow has ${drafts.length} steps once its rounds are counted; at most ${limits.maxSteps} (SWITCHYARD_MAX_STEPS)`,
    });

  // Ids and agents. The first definition of a duplicated id is the one the graph uses.
  const byId = new Map<string, Draft>();
  for (const d of drafts) {
    const first = byId.get(d.def.id);
    if (first) issues.push({ path: `${d.path}.id`, message: `duplicate step id "${d.def.id}" (first defined at ${first.path})` });
    else byId.set(d.def.id, d);
    ruleFor(d.def).check(d.def, { agents: opts.agents, path: d.path, issue: (path, message) => issues.push({ path, message }), caps: opts.caps });
    issues.push(...stepSchemaIssues(d.def, d.path, limits, opts.schemas));
  }
  const ids = [...byId.keys()];
  const stepById = (id: string) => byId.get(id)?.def;
  for (const d of drafts) {
    ruleFor(d.def).crossCheck?.(d.def, { agents: opts.agents, path: d.path, issue: (path, message) => issues.push({ path, message }), step: stepById });
  }
  for (const d of drafts) {
    d.def.dependsOn.forEach((dep, j) => {
      const path = `${d.path}.dependsOn[${j}]`;
      if (dep === d.def.id) issues.push({ path, message: `step "${dep}" depends on itself` });
      else if (!byId.has(dep)) issues.push({ path, message: `unknown step "${dep}" in dependsOn; steps: ${ids.join(', ')}` });
    });
  }

  // The graph over known ids; problems above are already reported, so they are left out here.
  const deps = new Map<string, string[]>();
  const dependents = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [id, d] of byId) {
    const list = [...d.deps].filter((x) => x !== id && byId.has(x)).sort();
    deps.set(id, list);
    for (const x of list) dependents.get(x)!.push(id);
  }
  for (const cycle of findCycles(ids, dependents)) {
    issues.push({ path: byId.get(cycle[0]!)!.path, message: `cycle: ${cycle.join(' → ')} (each step waits for the one before it)` });
  }

  /**
   * The steps upstream of `member` that feed nothing else (not the workflow's output either):
   * cancelling the member cancels them too, so the join is not held up by work nobody needs.
   */
  const outputs = new Set(wf.output ?? []);
  const exclusiveUpstream = (member: string): string[] => {
    const mine = new Set([member]);
    // Closest first: a step's dependents are looked at before the step itself.
    const todo = [...(deps.get(member) ?? [])];
    const seen = new Set<string>();
    for (let i = 0; i < todo.length; i++) {
      const a = todo[i]!;
      if (seen.has(a)) continue;
      if (!dependents.get(a)!.every((x) => mine.has(x)) || outputs.has(a)) continue;
      // Every dependent decided? A dependent still undecided is looked at again later.
      seen.add(a);
      mine.add(a);
      todo.push(...(deps.get(a) ?? []));
    }
    mine.delete(member);
    return [...mine].sort();
  };
  // Joins other than `all`: their dependencies become optional; those an early join (any,
  // quorum) waits on are told of it (joinOf), and may be cancelled by it, so they may feed
  // nothing else.
  const joinWatches = new Map<string, JoinWatch[]>();
  const madeOptional = new Set<string>();
  for (const [id, d] of byId) {
    const join = d.def.join;
    if (join === 'all') continue;
    const members = deps.get(id)!;
    const path = `${d.path}.join`;
    const label = typeof join === 'string' ? join : `{quorum: ${join.quorum}}`;
    if (members.length < 2) {
      issues.push({ path, message: `join: ${label} needs at least 2 dependencies; "${id}" has ${members.length}` });
      continue;
    }
    members.forEach((m) => madeOptional.add(m));
    if (join === 'bestEffort') continue;
    const need = join === 'any' ? 1 : join.quorum;
    if (need > members.length) issues.push({ path, message: `a quorum of ${need} needs at least ${need} dependencies; "${id}" has ${members.length}` });
    if (members.length > MAX_EARLY_JOIN)
      issues.push({ path, message: `join: ${label} waits on at most ${MAX_EARLY_JOIN} dependencies; "${id}" has ${members.length}` });
    for (const m of members) {
      const others = dependents.get(m)!.filter((x) => x !== id);
      if (others.length)
        issues.push({
          path,
          message: `join: ${label} cancels the steps it no longer needs, so they may feed no other step; "${m}" is also a dependency of ${others.map((x) => `"${x}"`).join(', ')}`,
        });
    }
    const upstream = Object.fromEntries(members.map((m): [string, string[]] => [m, exclusiveUpstream(m)]).filter(([, u]) => u.length > 0));
    const watch: JoinWatch = { step: id, label: join === 'any' ? 'any' : 'quorum', need, members, ...(Object.keys(upstream).length ? { upstream } : {}) };
    for (const m of members) joinWatches.set(m, [...(joinWatches.get(m) ?? []), watch]);
  }

  const ancestorCache = new Map<string, Set<string>>();
  const ancestors = (id: string): Set<string> => {
    let found = ancestorCache.get(id);
    if (found) return found;
    found = new Set<string>();
    const todo = [...deps.get(id)!];
    for (let x = todo.pop(); x !== undefined; x = todo.pop()) {
      if (found.has(x)) continue;
      found.add(x);
      todo.push(...deps.get(x)!);
    }
    ancestorCache.set(id, found);
    return found;
  };
  const declared = Object.keys(wf.input);
  const checkInputRef = (field: string, path: string, what: string): void => {
    if (Object.hasOwn(wf.input, field)) return;
    issues.push({ path, message: `${what} reads input field "${field}", which is not declared in input (declared: ${listOr(declared, 'none')})` });
  };
  const checkStepRef = (d: Draft, ref: string, path: string, what: string): void => {
    const self = d.def.id;
    if (ref === self) issues.push({ path, message: `${what} reads step "${ref}", the step itself` });
    else if (!byId.has(ref)) issues.push({ path, message: `${what} references unknown step "${ref}"; steps: ${ids.join(', ')}` });
    else if (!ancestors(self).has(ref)) {
      issues.push({
        path,
        message: `${what} reads step "${ref}", which is not an ancestor of "${self}" (nothing makes it finish first); add "${ref}" to dependsOn of "${self}"`,
      });
    }
  };
  // The steps each step reads, kept for the worker (which fetches just those outputs).
  const reads = new Map<string, Set<string>>(ids.map((id) => [id, new Set()]));
  // The context names each step reads: each must be published by one of its ancestors.
  const contextReads = new Map<string, Set<string>>();
  const publishes = (id: string, name: string): boolean => {
    const p = contextPublish(byId.get(id)?.def);
    return p === true || (Array.isArray(p) ? p.includes(name) : p?.as === name);
  };
  const checkContextRef = (d: Draft, name: string, path: string, what: string): void => {
    const self = d.def.id;
    // A publisher that may run at the same time as the reader would make what it reads depend
    // on which finished first: every publisher must come before it or after it.
    const concurrent = ids.filter((id) => id !== self && publishes(id, name) && !ancestors(self).has(id) && !ancestors(id).has(self));
    if (![...ancestors(self)].some((a) => publishes(a, name))) {
      const publishers = ids.filter((id) => publishes(id, name));
      issues.push({
        path,
        message: publishers.length
          ? `${what} reads context "${name}", which only ${publishers.map((p) => `"${p}"`).join(', ')} publish${publishers.length === 1 ? 'es' : ''}, and none of them is an ancestor of "${self}" (nothing makes it publish first); add it to dependsOn of "${self}"`
          : `${what} reads context "${name}", which no step publishes; add publish: [${name}] (or publish: true) to a step "${self}" depends on`,
      });
    } else if (concurrent.length) {
      issues.push({
        path,
        message: `${what} reads context "${name}", which ${concurrent.map((p) => `"${p}"`).join(', ')} also publish${concurrent.length === 1 ? 'es' : ''} and may run at the same time as "${self}" (what it reads would depend on which finished first); make ${concurrent.length === 1 ? 'it' : 'them'} depend on "${self}", or "${self}" on ${concurrent.length === 1 ? 'it' : 'them'}`,
      });
    }
    if (!contextReads.has(self)) contextReads.set(self, new Set());
    contextReads.get(self)!.add(name);
  };
  for (const d of drafts) {
    const templated = ruleFor(d.def).templated(d.def);
    for (const ref of templated.flatMap(({ at, value, vars }) => findTemplateRefs(value, vars).map((r) => ({ ...r, base: `${d.path}.${at}` })))) {
      const path = formatPath(ref.at, ref.base);
      if (ref.kind === 'invalid') issues.push({ path, message: `invalid template ${ref.raw}: ${ref.reason}` });
      else if (ref.kind === 'input') checkInputRef(ref.path[0]!, path, `template ${ref.raw}`);
      else if (ref.kind === 'step') {
        checkStepRef(d, ref.stepId, path, `template ${ref.raw}`);
        reads.get(d.def.id)?.add(ref.stepId);
      } else if (ref.kind === 'context') checkContextRef(d, ref.name, path, `template ${ref.raw}`);
    }
    for (const { at, stepId } of ruleFor(d.def).reads?.(d.def) ?? []) {
      checkStepRef(d, stepId, `${d.path}.${at}`, at);
      reads.get(d.def.id)?.add(stepId);
    }
    // `when`, and the kind's own expressions (a loop's `until`).
    const expressions = [
      ...(d.def.when === undefined ? [] : [{ at: 'when', expr: d.def.when, vars: [] as readonly string[] }]),
      ...(ruleFor(d.def).expressions?.(d.def) ?? []),
    ];
    for (const { at, expr, vars } of expressions) {
      const path = `${d.path}.${at}`;
      try {
        const refs = whenRefs(parseWhen(expr, vars, limits));
        for (const s of refs.steps) {
          checkStepRef(d, s, path, at);
          reads.get(d.def.id)?.add(s);
        }
        for (const f of refs.input) checkInputRef(f, path, at);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        issues.push({ path, message: at === 'when' ? err.message : err.message.replace(/^when /, `${at} `) });
      }
    }
  }

  wf.output?.forEach((id, i) => {
    if (!byId.has(id)) issues.push({ path: `output[${i}]`, message: `unknown step "${id}" in output; steps: ${ids.join(', ')}` });
  });
  for (const [name, field] of Object.entries(wf.input)) {
    if (field.default !== undefined && !fieldValueSchema(field.type).safeParse(field.default).success) {
      issues.push({ path: formatPath(['input', name, 'default']), message: `default does not match type ${field.type}` });
    }
  }
  if (wf.schedule) {
    // Its scheduler is `flow.<name>`, which must itself be a valid ScheduleId (at most 100 characters).
    if (!ScheduleId.safeParse(`${FLOW_SCHEDULE_PREFIX}${wf.name}`).success) {
      const max = SCHEDULE_ID_MAX_LENGTH - FLOW_SCHEDULE_PREFIX.length;
      issues.push({
        path: 'name',
        message: `a scheduled workflow's name may be at most ${max} characters (this one has ${wf.name.length}), because its schedule id is "${FLOW_SCHEDULE_PREFIX}<name>" (at most ${SCHEDULE_ID_MAX_LENGTH})`,
      });
    }
    const cron = cronProblem(wf.schedule.cron);
    if (cron) issues.push({ path: 'schedule.cron', message: cron });
    try {
      validateInputFields(wf.input, wf.schedule.input, 'schedule.input');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      issues.push(...err.issues);
    }
  }
  if (issues.length) fail(wf.name, source, issues);

  const order = topoOrder(ids, deps, dependents);
  const byAuthority = wf.context?.conflict === 'authority';
  const steps = order.map((id, index): CompiledStep => {
    const s = byId.get(id)!.def;
    // The rule's fields are those of the step's own kind (TypeScript cannot follow that through the union).
    return {
      id,
      ...(ruleFor(s).compile(s, { automation: wf.automation, step: stepById, caps: opts.caps }) as Omit<CompiledStep, 'id'>),
      dependsOn: deps.get(id)!,
      ...(s.when !== undefined && { when: s.when }),
      ...(s.timeoutMs !== undefined && { timeoutMs: s.timeoutMs }),
      ...(s.attempts !== undefined && { attempts: s.attempts }),
      optional: s.optional || madeOptional.has(id),
      allowSkippedDeps: s.allowSkippedDeps,
      reads: [...reads.get(id)!].sort(),
      ...(s.join !== 'all' && { join: s.join }),
      ...(joinWatches.has(id) && { joinOf: joinWatches.get(id) }),
      ...(contextPublish(s) !== undefined && { toContext: { fields: contextPublish(s) === true ? 'all' : contextPublish(s)!, order: index, byAuthority } }),
      ...(contextReads.has(id) && { readsContext: [...contextReads.get(id)!].sort() }),
    } as CompiledStep;
  });
  return {
    name: wf.name,
    description: wf.description,
    // A field with a default may be left out: shown as not required, whatever it says.
    input: Object.fromEntries(Object.entries(wf.input).map(([name, f]) => [name, f.default !== undefined ? { ...f, required: false } : f])),
    steps,
    output: wf.output ? [...new Set(wf.output)] : order.filter((id) => dependents.get(id)!.length === 0),
    ...(wf.schedule && { schedule: wf.schedule }),
    automation: wf.automation,
    ...(wf.budget ? { budget: wf.budget } : {}),
    ...(wf.context ? { context: wf.context } : {}),
    source,
  };
}
