/**
 * One delivery of one step's job: what the machine's phases (begin, execute, record, to BullMQ)
 * share while it runs. Built per job; holds no I/O of its own.
 */
import type { EventNotice } from '../webhooks/webhooks.js';
import type { FlowProducer, Job, Queue } from 'bullmq';
import { DEFAULT_BOUNDS, DEFAULT_MAX_DEBUG_BYTES, type Bounds } from '../config/env.js';
import type { Logger } from '../logger.js';
import type { PriceTable } from '../calls/pricing.js';
import { DEFAULT_MAX_PAUSE_MS } from '../calls/admission/pause.js';
import { UsageMeter } from '../calls/usage-meter.js';
import type { RoutingFacts } from '../submit/routing.js';
import type { AgentRegistry } from '../agents/registry.js';
import type { StepJobData } from '../flow/flow-builder.js';
import type { RunControl } from '../flow/run-control.js';
import type { StepPolicy } from '../flow/step-policy.js';
import type { RunStore } from '../store/run-store.js';
import type { WorkspaceCapsStore } from '../store/workspace-caps.js';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';
import type { StepReading } from '../store/scripts/step-begin.js';
import type { StepStatus } from '../model/run.js';
import type { CompiledStep } from '../kinds/definition.js';
import type { Executors } from '../kinds/executor.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ActiveJobs } from './active-jobs.js';
import type { SettlePolicy } from './settle.js';
import { StepTrace } from './step-trace.js';

/**
 * What a step job returns to its parent: small; the output itself is stored once, in the run.
 * `status` is what this worker reported; the run state is authoritative.
 */
export interface StepEnvelope {
  stepId: string;
  status: StepStatus;
}

export interface StepMachineDeps {
  store: RunStore;
  /** The workspaces' caps: a step of a run not yet started waits while its workspace runs its maxRunningRuns (run-cap.ts). */
  caps?: Pick<WorkspaceCapsStore, 'effective' | 'admitRun'> & Partial<Pick<WorkspaceCapsStore, 'known'>>;
  control: RunControl;
  /** The cell whose queues it serves: a job's scope is this cell and its `workspaceId`. */
  cell: Cell;
  executors: Executors;
  policy: StepPolicy;
  /** The agents a step's workspace sees (its own, then the shared ones), read as each segment begins. */
  agentsFor: (scope: Scope, step: CompiledStep) => Promise<AgentRegistry>;
  flowProducer: FlowProducer;
  refSafetyDelayMs: number;
  active: ActiveJobs;
  logger: Logger;
  /** The queue it serves (its rate limit is shared by every worker process). */
  queue: Queue;
  /** Any queue by name (the jobs of steps it adds). */
  queueByName: (name: string) => Queue;
  /** What tokens cost: a result's usage is recorded with its cost. */
  prices?: PriceTable;
  /** This process's metrics (step durations, tokens, cost, 429s, limiter waits). */
  metrics?: Metrics;
  /** An agent's authority (how it ranks as a writer of the run's context under `conflict: authority`). @default 1 */
  authorityOf?: (agent: string) => number;
  /** How a result write is retried on Redis errors. @default {tries: 8, firstDelayMs: 50} (about 6 s in all) */
  recordRetry?: { tries: number; firstDelayMs: number };
  /** Most bytes a step keeps of its last provider call and of its tool calls (SWITCHYARD_MAX_DEBUG_BYTES; 0: none). @default 32768 */
  maxDebugBytes?: number;
  /** What a step may render, produce and add (SWITCHYARD_MAX_*). @default DEFAULT_BOUNDS */
  bounds?: Bounds;
  /** The longest a 429 pauses the agent's queue (SWITCHYARD_MAX_PAUSE_MS). @default 5 minutes */
  maxPauseMs?: number;
  /** The health facts a delegation by capability chooses its agent by. @default none (such a delegation gets a tool error) */
  routing?: Pick<RoutingFacts, 'gather'>;
  /** The webhooks told of an event (an approval's step.waiting): deliveries queued, never thrown. */
  notify?: (scope: Scope, notice: EventNotice) => Promise<void>;
}

export class Delivery {
  readonly runId: string;
  readonly step: CompiledStep;
  readonly scope: Scope;
  /** The step is its run's only job: its ending finishes the run (in the same write when it records a result). */
  readonly standalone: boolean;
  readonly maxAttempts: number;
  readonly bounds: Bounds;
  readonly recordRetry: { tries: number; firstDelayMs: number };
  /** What this delivery's provider calls cost: recorded with each write that ends or parks it. */
  readonly meter: UsageMeter;
  /** What it keeps to debug its calls: written, like what they cost, with each write it makes. */
  readonly trace: StepTrace;
  /** The attempt this delivery runs (set once it starts one). */
  attempt = 0;
  /** Steps were added to the run in this delivery (their jobs are this job's children). */
  addedSteps = false;
  /** The step's checkpoint in force, and whether this delivery resumed after the steps it added. */
  checkpoint: unknown = null;
  resumed = false;
  runInput: Record<string, unknown> = {};
  reads: StepReading[] = [];
  /** The run's context values the step reads. */
  context: Record<string, unknown> = {};
  /** The agents of the step's workspace, as its last segment read them (an agent's authority among its context's writers). */
  agents: AgentRegistry | undefined;
  /** When the current attempt (or segment) started: its duration goes to the metrics. */
  segmentStart = Date.now();
  /**
   * Its run (or the step) was cancelled while it worked (ActiveJobs reached it), with the reason
   * given: the signal of its work fired then, and fires at once in any later segment.
   */
  cancelled: { reason: unknown } | undefined;
  // Built on first use: most steps log nothing, and a child logger per job is not free.
  private child: Logger | undefined;

  constructor(
    readonly deps: StepMachineDeps,
    readonly job: Job<StepJobData>,
    readonly token: string | undefined,
  ) {
    this.runId = job.data.runId;
    this.step = job.data.step;
    this.scope = scopeOf(deps.cell, job.data.workspaceId);
    this.standalone = job.data.standalone === true;
    this.maxAttempts = job.opts.attempts ?? 1;
    this.bounds = deps.bounds ?? DEFAULT_BOUNDS;
    this.recordRetry = deps.recordRetry ?? { tries: 8, firstDelayMs: 50 };
    this.meter = new UsageMeter(deps.prices);
    this.trace = new StepTrace(deps.maxDebugBytes ?? DEFAULT_MAX_DEBUG_BYTES, this);
  }

  /** The step's logger (made on first use). A method, not a closure made per delivery. */
  log(): Logger {
    const { step, job } = this;
    return (this.child ??= this.deps.logger.child({
      runId: this.runId,
      stepId: step.id,
      kind: step.kind,
      ...(step.agent ? { agent: step.agent } : {}),
      jobId: job.id,
    }));
  }

  envelope(status: StepStatus): StepEnvelope {
    return { stepId: this.step.id, status };
  }

  /** The metrics of an attempt (or segment) that ended with `status`. */
  ended(status: string): void {
    this.deps.metrics?.stepEnded({ agent: this.step.agent, kind: this.step.kind, status, durationMs: Date.now() - this.segmentStart });
  }

  /** What `settle` needs of the step's job and the process's settings. */
  settlePolicy(): SettlePolicy {
    return {
      maxAttempts: this.maxAttempts,
      attemptsMade: this.job.attemptsMade,
      backoff: this.job.opts.backoff,
      maxPauseMs: this.deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS,
      maxOutputBytes: this.bounds.maxOutputBytes,
    };
  }
}
