/**
 * The compile rule of each step kind: what compile.ts cannot know generically. compile.ts
 * handles ids, dependencies, sugar, cycles, `when` and the templates a rule points it at; a
 * rule checks the kind's own fields and produces its compiled fields.
 *
 * `KIND_RULES` is typed over every kind in STEP_DEFINITIONS, so a new kind does not compile
 * until it has a rule here.
 */
import { DEFAULT_ORCHESTRATION, type OrchestrationOptions } from '../model/agent.js';
import type { Automation, CompiledStepOf, StepDefinition, StepDefinitionOf, StepKind } from './definition.js';
import { isSingleTemplate } from '../lang/templates.js';

/** The names a forEach's step input reads besides input and steps. */
export const ITEM_VARS = ['item', 'index'] as const;

/** The names a loop's `until` reads besides input and steps. */
export const UNTIL_VARS = ['verdict', 'iteration'] as const;

export interface CompileContext {
  /** Agent types a step may name. */
  agents: readonly string[];
  /** Where the step sits in the document, e.g. `steps[1].parallel[0]`. */
  path: string;
  /** Report a problem at `path` (absolute, e.g. `${ctx.path}.agent`). */
  issue(path: string, message: string): void;
  /** For a definition a request brings: the most orchestration it may ask for (see RequestCaps). */
  caps?: RequestCaps | undefined;
}

/** What the agents file says of an agent that bears on orchestration. */
export interface AgentOrchestration {
  orchestration?: OrchestrationOptions | undefined;
  delegates?: readonly string[] | undefined;
}

/**
 * What a request may set on a step's `orchestration`: at most the server's maxima
 * (SWITCHYARD_MAX_ORCHESTRATOR_TURNS, _DELEGATIONS, _DELEGATION_DEPTH), and never more than
 * the agent's own setting where its agents file entry declares one. An orchestrator step of a
 * request runs with these maxima whatever it sets (see cappedOrchestration).
 */
export interface RequestCaps {
  maxTurns: number;
  maxDelegations: number;
  maxDepth: number;
  /** The agent as the agents file declares it (undefined: no such agent). */
  agent(name: string): AgentOrchestration | undefined;
}

const CAP_SETTINGS = {
  maxTurns: 'SWITCHYARD_MAX_ORCHESTRATOR_TURNS',
  maxDelegations: 'SWITCHYARD_MAX_DELEGATIONS',
  maxDepth: 'SWITCHYARD_MAX_DELEGATION_DEPTH',
} as const;

/** Report each orchestration bound of a request's agent step above what it may ask for. */
function checkCaps(def: StepDefinitionOf<'agent'>, ctx: CompileContext): void {
  const { caps } = ctx;
  if (!caps || !def.orchestration) return;
  const own = caps.agent(def.agent)?.orchestration;
  for (const field of Object.keys(CAP_SETTINGS) as (keyof typeof CAP_SETTINGS)[]) {
    const asked = def.orchestration[field];
    if (asked === undefined) continue;
    const agentOwn = own?.[field];
    if (agentOwn !== undefined && agentOwn < caps[field] && asked > agentOwn) {
      ctx.issue(
        `${ctx.path}.orchestration.${field}`,
        `${field} ${asked} is more than agent "${def.agent}" allows: at most its own ${field}, ${agentOwn} (a request may lower it, not raise it)`,
      );
    } else if (asked > caps[field]) {
      ctx.issue(`${ctx.path}.orchestration.${field}`, `${field} ${asked} is more than a request may ask for: at most ${caps[field]} (${CAP_SETTINGS[field]})`);
    }
  }
}

/**
 * The orchestration a request's agent step runs with. A step that delegates (its own
 * `delegates` or its agent's) gets every bound set, each at most the server's maximum: what it
 * asked for, else its agent's own, else the engine's default (which an operator's lower cap
 * would not otherwise bound). Other steps, and definitions from files, keep what they set.
 */
export function cappedOrchestration(def: StepDefinitionOf<'agent'>, caps: RequestCaps | undefined): OrchestrationOptions | undefined {
  if (!caps) return def.orchestration;
  const agent = caps.agent(def.agent);
  if ((def.delegates ?? agent?.delegates ?? []).length === 0) return def.orchestration;
  const out: OrchestrationOptions = { ...def.orchestration };
  for (const field of Object.keys(CAP_SETTINGS) as (keyof typeof CAP_SETTINGS)[]) {
    out[field] = Math.min(def.orchestration?.[field] ?? agent?.orchestration?.[field] ?? DEFAULT_ORCHESTRATION[field], caps[field]);
  }
  return out;
}

/** The fields every compiled step has; a rule produces the rest. */
type GenericCompiledField =
  'id' | 'dependsOn' | 'when' | 'timeoutMs' | 'attempts' | 'optional' | 'allowSkippedDeps' | 'reads' | 'join' | 'joinOf' | 'toContext' | 'readsContext';

export interface KindRule<K extends StepKind> {
  /**
   * Values whose strings may hold templates, with their path below the step (e.g. `input`),
   * and the names the kind provides there besides input and steps (forEach: item, index).
   */
  templated(def: StepDefinitionOf<K>): { at: string; value: unknown; vars?: readonly string[] }[];
  /** Steps the kind reads besides those its templates and expressions name (each must be an ancestor). */
  reads?(def: StepDefinitionOf<K>): { at: string; stepId: string }[];
  /** Checks against the other steps of the workflow (once every id is known). */
  crossCheck?(def: StepDefinitionOf<K>, ctx: CompileContext & { step(id: string): StepDefinition | undefined }): void;
  /** Expressions of the kind (in the `when` language), with the names they may read besides input and steps. */
  expressions?(def: StepDefinitionOf<K>): { at: string; expr: string; vars: readonly string[] }[];
  /** The kind's own checks. */
  check(def: StepDefinitionOf<K>, ctx: CompileContext): void;
  /**
   * The values of a compiled step that are rendered into text (each bounded by
   * SWITCHYARD_MAX_RENDERED_BYTES; measured at submit as far as the run input tells).
   */
  rendered(step: CompiledStepOf<K>): { at: string; value: unknown }[];
  /** The `output.schema`s the kind declares, with their path below the step (bounded and compiled: output-schemas.ts). */
  schemas(def: StepDefinitionOf<K>): { at: string; schema: Record<string, unknown> }[];
  /** The kind's own compiled fields (with `kind`, and `agent` when an agent's pool runs it). */
  compile(
    def: StepDefinitionOf<K>,
    workflow: { automation: Automation; step(id: string): StepDefinition | undefined; caps?: RequestCaps | undefined },
  ): Omit<CompiledStepOf<K>, GenericCompiledField>;
}

const listOr = (items: readonly string[], none: string): string => (items.length ? items.join(', ') : none);

/** Report `name` at `at` (below the step) unless it is a known agent. */
function checkAgent(ctx: CompileContext, at: string, name: string): void {
  if (!ctx.agents.includes(name)) ctx.issue(`${ctx.path}.${at}`, `unknown agent "${name}"; known agents: ${listOr([...ctx.agents].sort(), '(none)')}`);
}

export const KIND_RULES: { [K in StepKind]: KindRule<K> } = {
  agent: {
    templated: (def) => [{ at: 'input', value: def.input }],
    check(def, ctx) {
      checkAgent(ctx, 'agent', def.agent);
      def.delegates?.forEach((d, i) => {
        if (d === def.agent) ctx.issue(`${ctx.path}.delegates[${i}]`, 'a step may not delegate to its own agent');
        else checkAgent(ctx, `delegates[${i}]`, d);
      });
      checkCaps(def, ctx);
    },
    rendered: (step) => (step.literal ? [] : [{ at: 'input', value: step.input }]),
    schemas: (def) => (def.output ? [{ at: 'output.schema', schema: def.output.schema }] : []),
    compile: (def, workflow) => {
      const orchestration = cappedOrchestration(def, workflow.caps);
      return {
        kind: 'agent',
        agent: def.agent,
        input: def.input,
        ...(def.delegates ? { delegates: def.delegates } : {}),
        ...(orchestration ? { orchestration } : {}),
        ...(def.output ? { outputSchema: def.output.schema } : {}),
      };
    },
  },
  loop: {
    templated: (def) => [{ at: 'body.input', value: def.body.input }, ...(def.critic.input ? [{ at: 'critic.input', value: def.critic.input }] : [])],
    check(def, ctx) {
      for (const part of ['body', 'critic'] as const) checkAgent(ctx, `${part}.agent`, def[part].agent);
    },
    expressions: (def) => (def.until === undefined ? [] : [{ at: 'until', expr: def.until, vars: UNTIL_VARS }]),
    rendered: (step) => [{ at: 'body.input', value: step.body.input }, ...(step.critic.input ? [{ at: 'critic.input', value: step.critic.input }] : [])],
    schemas: () => [],
    compile: (def) => ({
      kind: 'loop',
      body: def.body,
      critic: def.critic,
      maxIterations: def.maxIterations,
      ...(def.until !== undefined ? { until: def.until } : {}),
    }),
  },
  forEach: {
    templated: (def) => [
      { at: 'items', value: def.items },
      { at: 'step.input', value: def.step.input, vars: ITEM_VARS },
    ],
    check(def, ctx) {
      checkAgent(ctx, 'step.agent', def.step.agent);
      if (!isSingleTemplate(def.items))
        ctx.issue(`${ctx.path}.items`, 'must be one template giving a list, e.g. "{{ steps.<id>.output.<field> }}" or "{{ input.<field> }}"');
    },
    // Each item's input, rendered per item (`items` itself is read as a value, not rendered).
    rendered: (step) => [{ at: 'step.input', value: step.step.input }],
    schemas: (def) => (def.step.output ? [{ at: 'step.output.schema', schema: def.step.output.schema }] : []),
    compile: (def) => ({
      kind: 'forEach',
      items: def.items,
      step: { agent: def.step.agent, input: def.step.input, ...(def.step.output ? { outputSchema: def.step.output.schema } : {}) },
      maxItems: def.maxItems,
      truncate: def.truncate,
      stopWhenEmpty: def.stopWhenEmpty,
      ...(def.concurrency !== undefined ? { concurrency: def.concurrency } : {}),
    }),
  },
  plan: {
    templated: (def) => [{ at: 'input', value: def.input }],
    check(def, ctx) {
      checkAgent(ctx, 'agent', def.agent);
      def.agents?.forEach((a, i) => checkAgent(ctx, `agents[${i}]`, a));
    },
    rendered: (step) => [{ at: 'input', value: step.input }],
    schemas: () => [],
    compile: (def) => ({ kind: 'plan', agent: def.agent, input: def.input, maxSteps: def.maxSteps, ...(def.agents ? { agents: def.agents } : {}) }),
  },
  approval: {
    templated: (def) => (def.input ? [{ at: 'input', value: def.input }] : []),
    check(def, ctx) {
      if (def.onReject === 'revise' && def.review === undefined)
        ctx.issue(`${ctx.path}.review`, 'onReject: revise needs review: the id of the agent step to revise');
    },
    reads: (def) => (def.review === undefined ? [] : [{ at: 'review', stepId: def.review }]),
    crossCheck(def, ctx) {
      const reviewed = def.review === undefined ? undefined : ctx.step(def.review);
      if (reviewed && reviewed.kind !== 'agent')
        ctx.issue(`${ctx.path}.review`, `the step under review must be an agent step; "${reviewed.id}" is a ${reviewed.kind} step`);
    },
    expressions: (def) => def.rules.map((expr, i) => ({ at: `rules[${i}]`, expr, vars: [] })),
    rendered: (step) => (step.input ? [{ at: 'input', value: step.input }] : []),
    schemas: () => [],
    compile: (def, workflow) => {
      const reviewed = def.review === undefined ? undefined : workflow.step(def.review);
      return {
        kind: 'approval',
        onTimeout: def.onTimeout,
        onReject: def.onReject,
        maxRevisions: def.maxRevisions,
        ...(reviewed?.kind === 'agent' ? { review: { stepId: reviewed.id, agent: reviewed.agent } } : {}),
        publish: def.publish,
        rules: def.rules,
        automation: workflow.automation,
        ...(def.input ? { input: def.input } : {}),
      };
    },
  },
  vote: {
    templated: (def) => (def.question ? [{ at: 'question', value: def.question }] : []),
    check(def, ctx) {
      if (def.of) {
        for (const f of ['question', 'voters', 'quorum'] as const)
          if (def[f] !== undefined) ctx.issue(`${ctx.path}.${f}`, `a vote over the outputs of steps (of) asks no one: leave out ${f}`);
        return;
      }
      if (!def.voters || !def.question) {
        ctx.issue(
          `${ctx.path}.${def.voters ? 'question' : 'voters'}`,
          'a vote needs a question and its voters (at least 2), or `of`: the steps whose outputs are the votes',
        );
        return;
      }
      def.voters.forEach((v, i) => checkAgent(ctx, `voters[${i}].agent`, v.agent));
      if (def.quorum !== undefined && def.quorum > def.voters.length)
        ctx.issue(`${ctx.path}.quorum`, `a quorum of ${def.quorum} needs at least ${def.quorum} voters; there are ${def.voters.length}`);
    },
    reads: (def) => (def.of ?? []).map((stepId, i) => ({ at: `of[${i}]`, stepId })),
    rendered: (step) => (step.question ? [{ at: 'question', value: step.question }] : []),
    schemas: () => [],
    compile: (def) => ({
      kind: 'vote',
      ...(def.question ? { question: def.question } : {}),
      voters: def.voters ?? [],
      ...(def.of ? { of: def.of } : {}),
      minAgreement: def.minAgreement,
      ...(def.compare ? { compare: def.compare } : {}),
      ...(def.quorum !== undefined ? { quorum: def.quorum } : {}),
    }),
  },
  concat: {
    templated: () => [],
    check(def, ctx) {
      if (!def.of && def.dependsOn.length === 0) ctx.issue(`${ctx.path}.of`, 'name the steps to concatenate (of), or depend on them (dependsOn)');
    },
    reads: (def) => (def.of ?? def.dependsOn).map((stepId, i) => ({ at: def.of ? `of[${i}]` : `dependsOn[${i}]`, stepId })),
    rendered: () => [],
    schemas: () => [],
    compile: (def) => ({ kind: 'concat', of: def.of ?? def.dependsOn, as: def.as }),
  },
  merge: {
    templated: () => [],
    check(def, ctx) {
      const of = def.of ?? def.dependsOn;
      if (of.length === 0) ctx.issue(`${ctx.path}.of`, 'name the steps to merge (of), or depend on them (dependsOn)');
      def.priority?.forEach((p, i) => {
        if (!of.includes(p)) ctx.issue(`${ctx.path}.priority[${i}]`, `"${p}" is not one of the steps merged (${of.join(', ')})`);
      });
    },
    reads: (def) => (def.of ?? def.dependsOn).map((stepId, i) => ({ at: def.of ? `of[${i}]` : `dependsOn[${i}]`, stepId })),
    rendered: () => [],
    schemas: () => [],
    compile: (def) => {
      const of = def.of ?? def.dependsOn;
      const priority = [...new Set([...(def.priority ?? []), ...of])];
      return { kind: 'merge', of, priority };
    },
  },
  synthesize: {
    templated: (def) => [{ at: 'input', value: def.input }],
    check(def, ctx) {
      checkAgent(ctx, 'agent', def.agent);
      if (!def.of && def.dependsOn.length === 0) ctx.issue(`${ctx.path}.of`, 'name the steps to synthesize (of), or depend on them (dependsOn)');
    },
    reads: (def) => (def.of ?? def.dependsOn).map((stepId, i) => ({ at: def.of ? `of[${i}]` : `dependsOn[${i}]`, stepId })),
    rendered: (step) => [{ at: 'input', value: step.input }],
    schemas: () => [],
    compile: (def) => ({ kind: 'synthesize', agent: def.agent, input: def.input, of: def.of ?? def.dependsOn }),
  },
};

/** The compile rule of a step's kind. */
export function ruleOf<K extends StepKind>(kind: K): KindRule<K> {
  return KIND_RULES[kind];
}
