/**
 * Submissions: turning a request into a stored run and its flow. A single-agent task or a
 * workflow (named, inline, or a pattern's) is checked (input, bounds, a cost budget's prices),
 * its idempotency key claimed, its state written, then its whole flow added to BullMQ in one
 * call. A rerun is a new run of the definition a finished one executed.
 */
import type { RunControl } from '../flow/run-control.js';
import { finishRun } from '../flow/finish-run.js';
import { createHash, randomFillSync } from 'node:crypto';
import type { FlowJob, FlowProducer, Queue } from 'bullmq';
import type { AgentRegistry } from '../agents/registry.js';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { ConflictError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { CompiledStep, CompiledWorkflow } from '../kinds/definition.js';
import { validateRunInput } from '../compile/input.js';
import { assertRunBounds } from '../compile/run-bounds.js';
import type { WorkflowCatalog } from '../compile/catalog.js';
import { buildRunFlow, refIdsOf, type JobPolicy, type StepJobData } from '../flow/flow-builder.js';
import { fairRequests, prioritiesOf } from '../flow/fair-priorities.js';
import type { StepPolicy } from '../flow/step-policy.js';
import { whileReachable } from '../store/reachable.js';
import type { Admission, CreateRunReply, NewRun, RunStore } from '../store/run-store.js';
import type { NewStep } from '../store/scripts/step-plan.js';
import type { Scope } from '../store/scope.js';
import { agentTaskWorkflow } from './agent-task.js';
import { rerunWorkflow, type RerunSource } from './rerun.js';
import { requirePrices } from './budget-pricing.js';
import { envelopeAdmission, envelopeRefusal } from './envelope-check.js';
import { isTerminalRun, type Budget, type RunRecord } from '../model/run.js';
import type { RoutingConstraints } from '../model/routing.js';
import { isoTime } from '../model/time.js';
import { chooseAgent, type RoutingFacts } from './routing.js';
import { RoutingError } from './routing-error.js';

export type { RerunSource } from './rerun.js';

export interface SubmissionsDeps {
  store: RunStore;
  /** Drains a run that was ended (finishRun). */
  control: Pick<RunControl, 'drain'>;
  flowProducer: FlowProducer;
  /** A queue by name (a single-step run's job is added on it). */
  queue: (name: string) => Queue | undefined;
  /** The agents a workspace sees (its own, created over the API, then the shared ones), read now; `naming`: the one agent a task names. */
  agentsFor: (scope: Scope, naming?: string) => Promise<AgentRegistry>;
  workflows: WorkflowCatalog;
  policy: StepPolicy;
  logger: Logger;
  /** Safety delay of ref jobs (ms). */
  refSafetyDelayMs: number;
  /** What a run may become (rendered inputs, steps), checked at submit where the input tells. Default: the configuration's defaults. */
  bounds?: Bounds;
  /** A finished run as a rerun needs it, from Redis or the archive; NotFoundError when neither has it. */
  readRun: (scope: Scope, runId: string) => Promise<RerunSource>;
  /** The health facts a capability's candidates are chosen by (routing.ts); without it a capability is refused. */
  routing?: RoutingFacts;
}

export interface SubmitOptions {
  idempotencyKey?: string;
  priority?: number;
  scheduleId?: string;
  /** The run this one reruns. */
  rerunOf?: string;
  /** Limits on what the run may spend (over its workflow's `budget`). */
  budget?: Budget;
  /** The API key that submits the run (its id, never the key): its spend envelope holds the run too. */
  keyId?: string | undefined;
  /** Written before the run and its jobs (a run's webhook), so whatever the run does next sees it. */
  beforeCreate?: ((runId: string) => Promise<void>) | undefined;
}

export interface SubmitResult {
  id: string;
  status: RunRecord['status'];
  /** False when an idempotency key returned an existing run. */
  created: boolean;
}

/** Random bytes for run ids, drawn from the CSPRNG a pool at a time (as randomUUID draws its own). */
const ID_POOL = Buffer.alloc(6 * 512);
let idPoolAt = ID_POOL.length;
/** Two hex digits of each byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** The time part of the last id made, and its millisecond. */
let idMs = -1;
let idTime = '';

export function newRunId(): string {
  // Time-sortable: 9 base36 chars of milliseconds (made once per millisecond), then 48 random
  // bits as 12 hex digits, from a pool of random bytes (no UUID made and cut, about 1 µs less).
  if (idPoolAt === ID_POOL.length) {
    randomFillSync(ID_POOL);
    idPoolAt = 0;
  }
  const b = ID_POOL;
  const i = idPoolAt;
  idPoolAt += 6;
  const now = Date.now();
  if (now !== idMs) {
    idMs = now;
    idTime = now.toString(36).padStart(9, '0');
  }
  return 'run_' + idTime + HEX[b[i]!]! + HEX[b[i + 1]!]! + HEX[b[i + 2]!]! + HEX[b[i + 3]!]! + HEX[b[i + 4]!]! + HEX[b[i + 5]!]!;
}

export class Submissions {
  constructor(private readonly deps: SubmissionsDeps) {}

  /** A one-step run of `agent` with `input` ({task, context?}). */
  async submitAgentTask(
    scope: Scope,
    agent: string,
    input: { task: string; context?: Record<string, unknown> },
    opts: SubmitOptions = {},
  ): Promise<SubmitResult> {
    const agents = await this.deps.agentsFor(scope, agent);
    agents.require(agent);
    // Awaited here: a promise returned from an async function would take two more turns to pass on.
    return await this.submit(scope, agentTaskWorkflow(agent, input), input, { agent, input }, opts, agents);
  }

  /**
   * A one-step run of the agent chosen for `capability` (routing.ts): the step records the
   * choice and why. RoutingError (422) when no agent can be chosen, naming why for each.
   */
  async submitCapability(
    scope: Scope,
    capability: string,
    input: { task: string; context?: Record<string, unknown> },
    constraints: RoutingConstraints = {},
    opts: SubmitOptions = {},
  ): Promise<SubmitResult> {
    if (!this.deps.routing) throw new RoutingError(`routing by capability is not available in this process`, []);
    const agents = await this.deps.agentsFor(scope);
    const choice = chooseAgent(capability, await this.deps.routing.gather(agents, capability), constraints);
    if (!choice.ok) throw new RoutingError(choice.message, choice.candidates);
    const { chosen } = choice.routing;
    return this.submit(scope, agentTaskWorkflow(chosen, input, choice.routing), input, { capability, input, constraints }, opts, agents);
  }

  /** A run of a named workflow (from flows/) or an inline definition. */
  async submitWorkflow(scope: Scope, ref: string | Record<string, unknown>, input: unknown, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const agents = await this.deps.agentsFor(scope);
    const workflow = await this.deps.workflows.resolve(ref, agents);
    const validInput = validateRunInput(workflow, input ?? {});
    return this.submit(scope, workflow, validInput, { workflow: ref, input: validInput }, opts, agents);
  }

  /**
   * Rerun a finished run from `fromStep`: a new run of the definition it executed, in which
   * every step not downstream of `fromStep` (and that succeeded) reuses its recorded output
   * (no work done, `reusedFrom` set), `fromStep` gets `feedback` (with its previous answer) in
   * its context, and the new run's `rerunOf` names this one.
   */
  async rerun(
    scope: Scope,
    runId: string,
    req: { fromStep: string; input?: Record<string, unknown> | undefined; feedback?: string | undefined },
    opts: SubmitOptions = {},
  ): Promise<SubmitResult & { rerunOf: string }> {
    const old = await this.deps.readRun(scope, runId);
    if (!isTerminalRun(old.status)) throw new ConflictError(`run "${runId}" is ${old.status}: a run is rerun once it has finished (cancel it first)`);
    if (!old.definition) throw new ConflictError(`run "${runId}" has no stored definition to rerun`);
    const workflow = rerunWorkflow(runId, old, old.definition, req);
    const input = req.input === undefined ? old.input : validateRunInput(workflow, req.input);
    const agents = await this.deps.agentsFor(scope);
    const res = await this.submit(scope, workflow, input, { rerun: runId, ...req }, { ...opts, rerunOf: runId }, agents);
    return { ...res, rerunOf: runId };
  }

  private submit(
    scope: Scope,
    workflow: CompiledWorkflow,
    input: unknown,
    request: unknown,
    opts: SubmitOptions,
    agents: AgentRegistry,
  ): Promise<SubmitResult> {
    // Refused (422) before anything is stored: what this input would render into, and grow to.
    assertRunBounds(workflow, (input ?? {}) as Record<string, unknown>, this.deps.bounds ?? DEFAULT_BOUNDS);
    return whileReachable(this.deps.store.redis, 'the run', () => this.submitNow(scope, workflow, input, request, opts, agents));
  }

  private async submitNow(
    scope: Scope,
    workflow: CompiledWorkflow,
    input: unknown,
    request: unknown,
    opts: SubmitOptions,
    agents: AgentRegistry,
  ): Promise<SubmitResult> {
    const runId = newRunId();
    // A cost budget holds only over models with a price.
    requirePrices(workflow, opts.budget ?? workflow.budget, agents);
    if (opts.idempotencyKey) {
      const replay = await this.claim(scope, opts.idempotencyKey, runId, request, opts);
      if (replay) return replay;
    }
    if (opts.beforeCreate) {
      try {
        await opts.beforeCreate(runId);
      } catch (err) {
        if (opts.idempotencyKey) await this.deps.store.records.releaseIdempotencyKey(scope, opts.idempotencyKey);
        throw err;
      }
    }
    const now = Date.now();
    const run = newRunRecord(runId, scope, workflow, input, opts, now);
    const fair = fairRequests(runId, workflow.steps, (agent) => this.deps.policy.share(agent, agents));
    const parts: NewRun = {
      outputSteps: workflow.output,
      // An agent task's definition follows from its record (see runDefinition): not stored.
      definition: workflow.source === 'agent' ? undefined : workflow,
      steps: newStepsOf(workflow),
      refIds: refIdsOf(runId, workflow.steps),
      createdAtMs: now,
    };
    // One script: the envelopes asked (a refused run is not written), the fair turns taken, the
    // run written; then its jobs are added.
    const created = await this.create(scope, run, parts, { ...envelopeAdmission(opts.keyId, workflow, agents, now), fair }, opts);
    if (created.refused) {
      if (opts.idempotencyKey) await this.deps.store.records.releaseIdempotencyKey(scope, opts.idempotencyKey);
      throw envelopeRefusal(scope, created.refused, workflow, agents, now);
    }
    const priorities = prioritiesOf(fair, created.turns, opts.priority);
    const { tree } = this.flowOf(scope, run, workflow, opts, agents, created.hold, priorities);
    // A single-step run's one job is added on its queue; a flow (a root over its steps) by the producer.
    const queue = (tree.data as Partial<StepJobData>).standalone ? this.deps.queue(tree.queueName) : undefined;
    try {
      if (queue) await queue.add(tree.name, tree.data, tree.opts);
      else await this.deps.flowProducer.add(tree);
    } catch (err) {
      await this.endUnqueued(scope, runId, err as Error, opts);
      throw err;
    }
    this.deps.logger.info({ runId, workflow: workflow.name, steps: workflow.steps.length }, 'run queued');
    return { id: runId, status: 'queued', created: true };
  }

  /** Write the run (records.create); its idempotency key is released when the write fails. */
  private create(scope: Scope, run: RunRecord, parts: NewRun, admission: Admission, opts: SubmitOptions): Promise<CreateRunReply> {
    const written = this.deps.store.records.create(scope, run, parts, admission);
    const key = opts.idempotencyKey;
    if (!key) return written;
    return written.catch(async (err: unknown) => {
      await this.deps.store.records.releaseIdempotencyKey(scope, key);
      throw err;
    });
  }

  /** The run's flow: its jobs, with `priorities` (fair turns) and `hold` (an envelope holds it: its calls reserve). */
  private flowOf(
    scope: Scope,
    run: RunRecord,
    workflow: CompiledWorkflow,
    opts: SubmitOptions,
    agents: AgentRegistry,
    hold: boolean,
    priorities?: ReadonlyMap<string, number>,
  ): { tree: FlowJob; refIds: string[] } {
    return buildRunFlow({
      runId: run.id,
      workspaceId: scope.workspace,
      ...(run.budget?.deadlineMs ? { deadline: Date.parse(run.createdAt) + run.budget.deadlineMs } : {}),
      budgeted: run.budget?.maxTokens !== undefined || run.budget?.maxCostUsd !== undefined || hold,
      keyId: opts.keyId,
      steps: workflow.steps,
      jobPolicy: jobPolicyOf(this.deps.policy, agents),
      priorities,
      runPriority: opts.priority,
      retentionSeconds: this.deps.store.retentionSeconds,
      keepCompletedJobs: this.deps.store.keepCompletedJobs,
      refSafetyDelayMs: this.deps.refSafetyDelayMs,
    });
  }

  /** Claim the idempotency key for `runId`: the run that holds it already (a replay), or undefined once claimed. */
  private async claim(scope: Scope, key: string, runId: string, request: unknown, opts: SubmitOptions): Promise<SubmitResult | undefined> {
    const { records } = this.deps.store;
    const requestHash = createHash('sha256')
      .update(JSON.stringify({ request, priority: opts.priority ?? null }))
      .digest('hex');
    const holder = await records.claimIdempotencyKey(scope, key, runId, requestHash);
    if (!holder) return undefined;
    if (holder.requestHash !== requestHash) throw new ConflictError(`idempotencyKey "${key}" was already used for a different request (run ${holder.runId})`);
    return { id: holder.runId, status: (await records.status(scope, holder.runId)) ?? 'queued', created: false };
  }

  /**
   * A run without its flow would never execute: end it now rather than leave it queued. If
   * Redis is unreachable this fails too; the sweeper ends it later (it is still in the set of
   * queued runs), and the original error is what the caller gets.
   */
  private async endUnqueued(scope: Scope, runId: string, err: Error, opts: SubmitOptions): Promise<void> {
    const { records } = this.deps.store;
    try {
      await finishRun(this.deps, scope, runId, { how: 'halt', status: 'failed', error: `could not enqueue the run: ${err.message}`, reason: 'enqueue failed' });
      if (opts.idempotencyKey) await records.releaseIdempotencyKey(scope, opts.idempotencyKey);
    } catch (cleanup) {
      this.deps.logger.warn({ runId, err: (cleanup as Error).message }, 'could not end a run whose flow was not added; the sweeper will');
    }
  }
}

function newRunRecord(runId: string, scope: Scope, workflow: CompiledWorkflow, input: unknown, opts: SubmitOptions, now: number): RunRecord {
  return {
    id: runId,
    workspaceId: scope.workspace,
    workflow: workflow.name,
    status: 'queued',
    input,
    output: null,
    error: null,
    agents: agentsOfSteps(workflow.steps),
    failedSteps: [],
    skippedSteps: [],
    usage: { inputTokens: 0, outputTokens: 0 },
    priority: opts.priority ?? null,
    idempotencyKey: opts.idempotencyKey ?? null,
    scheduleId: opts.scheduleId ?? null,
    rerunOf: opts.rerunOf ?? null,
    keyId: opts.keyId ?? null,
    budget: opts.budget ?? workflow.budget ?? null,
    context: null,
    contextWriters: null,
    outputs: null,
    createdAt: isoTime(now),
    startedAt: null,
    finishedAt: null,
  };
}

/**
 * The job options of a run's steps, by the agents `agents` has. Made here, not as an arrow in
 * flowOf's object literal: run through tsx (npm start, the bench), esbuild's keepNames names
 * such an arrow with Object.defineProperty on each submission.
 */
function jobPolicyOf(policy: StepPolicy, agents: AgentRegistry): (s: CompiledStep) => JobPolicy {
  return (s) => policy.job(s, agents);
}

/** An agent task's step records to create, by its agent: the same (frozen) list for every task of an agent, so its plan is encoded once (stepPlan). */
const agentTaskSteps = new Map<string, readonly NewStep[]>();
/** Distinct agents kept (a workspace's agents come and go). */
const AGENT_TASK_STEPS_KEPT = 1_000;

/** The step records a new run of `workflow` creates (NewStep). */
function newStepsOf(workflow: CompiledWorkflow): readonly NewStep[] {
  const only = workflow.source === 'agent' && workflow.steps.length === 1 ? workflow.steps[0]! : undefined;
  if (!only || only.kind !== 'agent' || only.routing || only.dependsOn.length > 0 || only.optional) return workflow.steps.map(newStepOf);
  let steps = agentTaskSteps.get(only.agent);
  if (!steps) {
    if (agentTaskSteps.size >= AGENT_TASK_STEPS_KEPT) agentTaskSteps.clear();
    steps = Object.freeze([Object.freeze(newStepOf(only))]);
    agentTaskSteps.set(only.agent, steps);
  }
  return steps;
}

function newStepOf(s: CompiledWorkflow['steps'][number]): NewStep {
  return {
    stepId: s.id,
    kind: s.kind,
    agent: s.agent ?? null,
    parent: null,
    dependsOn: s.dependsOn,
    optional: s.optional,
    ...(s.kind === 'agent' && s.routing ? { routing: s.routing } : {}),
  };
}

/** The agents a run's steps name, each once, sorted (a single step's without building a set). */
function agentsOfSteps(steps: CompiledWorkflow['steps']): string[] {
  if (steps.length === 1) return steps[0]!.agent ? [steps[0]!.agent] : [];
  return [...new Set(steps.flatMap((s) => (s.agent ? [s.agent] : [])))].sort();
}
