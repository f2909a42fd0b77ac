/**
 * What a step's executor is given for one segment of its work (ExecutionContext): the
 * delivery's state as the segment begins, and what it may do through the engine. One object
 * per segment whose methods are its class's: nothing is made per segment but the object itself.
 */
import { toError } from '../errors/index.js';
import type { AgentRegistry } from '../agents/registry.js';
import { stepCalls } from '../calls/pipeline.js';
import type { Provider } from '../calls/provider.js';
import type { StepPolicy } from '../flow/step-policy.js';
import type { ChildStep, ExecutionContext } from '../kinds/executor.js';
import type { PublishFields } from '../model/step.js';
import type { Bounds } from '../config/env.js';
import type { Logger } from '../logger.js';
import type { StepRecord, ToolCallRecord } from '../model/run.js';
import type { StepReading } from '../store/scripts/step-begin.js';
import { chooseAgent } from '../submit/routing.js';
import type { Delivery } from './delivery.js';
import { addChildSteps } from './growth.js';
import { saveCheckpoint } from './writes.js';

export class StepContext implements ExecutionContext {
  readonly runId: string;
  readonly workspaceId: string;
  readonly attempt: number;
  readonly runInput: Record<string, unknown>;
  readonly reads: readonly StepReading[];
  readonly context: Record<string, unknown>;
  readonly publishes: PublishFields | null;
  readonly checkpoint: unknown;
  readonly resumed: boolean;
  readonly bounds: Bounds;
  /** Present only where routing is (ExecutionContext.route). */
  declare readonly route?: ExecutionContext['route'];
  /** Calls of this segment made without a name (callKey). */
  private calls = 0;

  constructor(
    private readonly d: Delivery,
    readonly agents: AgentRegistry,
    readonly signal: AbortSignal,
    readonly timeoutMs: number,
  ) {
    this.runId = d.runId;
    this.workspaceId = d.job.data.workspaceId;
    this.attempt = d.attempt;
    this.runInput = d.runInput;
    this.reads = d.reads;
    this.context = d.context;
    this.publishes = d.step.toContext?.fields ?? null;
    this.checkpoint = d.checkpoint;
    this.resumed = d.resumed;
    this.bounds = d.bounds;
    const { routing } = d.deps;
    if (routing) {
      (this as { route?: ExecutionContext['route'] }).route = async (capability, among) => {
        const choice = chooseAgent(capability, await routing.gather(agents, capability, among));
        return choice.ok ? choice.routing : { refused: choice.message };
      };
    }
  }

  log(): Logger {
    return this.d.log();
  }

  callKey(name?: string): string {
    return `${this.runId}.${this.d.step.id}.${this.attempt}.${name ?? ++this.calls}`;
  }

  saveCheckpoint(cp: unknown): Promise<void> {
    return saveCheckpoint(this.d, cp);
  }

  addSteps(children: readonly ChildStep[]): Promise<void> {
    const { d, agents } = this;
    const { deps } = d;
    d.addedSteps = true;
    // The steps it adds take their attempts and backoff from the agents its workspace sees.
    const policy: StepPolicy = {
      job: (s) => deps.policy.job(s, agents),
      timeoutMs: (s) => deps.policy.timeoutMs(s, agents),
      share: (agent) => deps.policy.share(agent, agents),
    };
    return addChildSteps({ ...deps, policy }, d.job, this.attempt, children);
  }

  steps(ids: readonly string[]): Promise<StepRecord[]> {
    return this.d.deps.store.steps.get(this.d.scope, this.runId, ids);
  }

  // Each call names its attempt: what it holds in the limiter and against the run's budget is released with it.
  metered(provider: Provider): Provider {
    const { d } = this;
    const { scope, step, job, deps } = d;
    return stepCalls(provider, {
      holder: {
        runId: this.runId,
        workspaceId: scope.workspace,
        tag: scope.tag,
        stepId: step.id,
        attempt: this.attempt,
        ...(job.data.budgeted ? { budgeted: true, keyId: job.data.keyId } : {}),
      },
      meter: d.meter,
      trace: d.trace,
      metrics: deps.metrics ? { metrics: deps.metrics, agent: step.agent } : undefined,
    });
  }

  progress(data: Record<string, unknown>): void {
    const { d, attempt } = this;
    d.deps.store.steps.progress(d.scope, this.runId, d.step.id, attempt, data).catch(this.warn('a step.progress event'));
    d.job.updateProgress({ attempt, ...data }).catch(this.warn('the job progress'));
  }

  delta(text: string): Promise<void> {
    const { d } = this;
    return d.deps.store.steps.delta(d.scope, this.runId, d.step.id, this.attempt, text).then(() => undefined, this.warn('a step.delta'));
  }

  record(fields: { input?: unknown; calls?: ToolCallRecord[] }): void {
    this.d.trace.record(fields);
  }

  private warn(what: string): (err: unknown) => void {
    return (err) => this.d.log().warn({ err: toError(err).message }, `could not record ${what}`);
  }
}
