/**
 * Expand sugar into steps. The top-level `steps` list adds no edges (order comes from
 * dependsOn and blocks). In `sequential: [a, b]` every entry step of b depends on every exit
 * step of a, where entry = no dependency inside its block, exit = nothing inside its block
 * depends on it. `parallel` adds no edges; with `rounds`, each of its agent steps runs once per
 * round. A pattern block becomes the steps the pattern does (src/compile/patterns.ts).
 * Explicit dependsOn is kept and merged.
 */
import type { Issue } from '../../errors/index.js';
import { StepDefinition, type Block, type PatternBlock, type StepDefinitionOf } from '../../kinds/definition.js';
import { patternProblem, patternSteps } from '../patterns.js';
import { fromZod } from './issues.js';
import type { CompileState, StepDraft } from './state.js';

/** Every step of the workflow, in definition order, with the edges its blocks imply. */
export function expandPass(state: CompileState): void {
  const { wf, drafts, issues, bounds } = state;
  wf.steps.forEach((block, i) => expand(block, `steps[${i}]`, drafts, issues));
  if (drafts.length > bounds.maxSteps)
    issues.push({
      path: 'steps',
      message: `the workflow has ${drafts.length} steps once its rounds are counted; at most ${bounds.maxSteps} (SWITCHYARD_MAX_STEPS)`,
    });
}

/** Flatten blocks into drafts (definition order), adding the edges sugar implies. Returns member indices. */
function expand(block: Block, path: string, drafts: StepDraft[], issues: Issue[]): number[] {
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
function expandPattern(block: PatternBlock, path: string, drafts: StepDraft[], issues: Issue[]): number[] {
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
  drafts: StepDraft[],
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

function entriesOf(members: number[], drafts: StepDraft[]): number[] {
  const ids = new Set(members.map((m) => drafts[m]!.def.id));
  return members.filter((m) => ![...drafts[m]!.deps].some((d) => d !== drafts[m]!.def.id && ids.has(d)));
}

function exitsOf(members: number[], drafts: StepDraft[]): number[] {
  // The ids some other member depends on (in one pass: blocks can hold thousands of steps).
  const needed = new Set<string>();
  for (const o of members) for (const d of drafts[o]!.deps) if (d !== drafts[o]!.def.id) needed.add(d);
  return members.filter((m) => !needed.has(drafts[m]!.def.id));
}
