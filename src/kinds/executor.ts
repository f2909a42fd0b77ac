/**
 * The seam between the step machine and the work of one step kind.
 *
 * An executor runs one segment of a step: a whole attempt, or (for a step that added steps to
 * its run) the part up to its next wait, or after it. It reads and writes nothing itself: it
 * gets the state it needs in its ExecutionContext, asks the context to save a checkpoint or to
 * add steps, and returns what happened. The machine records the result (awaited), maps thrown
 * errors to retries by their class, and parks the job while the steps it added run.
 */
import type { Bounds } from '../config/env.js';
import type { Logger } from '../logger.js';
import type { Provider } from '../calls/provider.js';
import type { StepReading } from '../store/run-store.js';
import type { StepRecord, ToolCallRecord } from '../model/run.js';
import type { PublishFields } from '../model/step.js';
import type { AgentRegistry } from '../agents/registry.js';
import type { CompiledStep, CompiledStepOf, StepInput, StepKind } from './definition.js';

/** A step to add to the running run, as a child of the step that adds it. */
export type ChildStep = CompiledStep;

/** A child that runs `agent` on `input` as it is (never template-rendered): required, no dependencies unless `extra` says otherwise. */
export function agentChild(id: string, agent: string, input: StepInput, extra: Partial<CompiledStepOf<'agent'>> = {}): ChildStep {
  return { id, kind: 'agent', agent, input, dependsOn: [], optional: false, allowSkippedDeps: false, reads: [], literal: true, ...extra };
}

export interface ExecutionContext {
  runId: string;
  workspaceId: string;
  /**
   * The agents the step's workspace sees (its own, created over the API, then the shared ones),
   * as they were when this segment began: a changed agent takes effect for steps started after.
   */
  agents: AgentRegistry;
  /** This attempt's number (1-based; an attempt cut short by a crash counted). */
  attempt: number;
  /** The run's input. */
  runInput: Record<string, unknown>;
  /** The steps the step reads (its dependencies and the ancestors its templates name). */
  reads: readonly StepReading[];
  /** The names of the run's shared context the step's templates read (`{{context.<name>}}`), as they were when it began. */
  context: Record<string, unknown>;
  /** What the step may publish into the run's context (its compiled `publish`; the publish_context tool too); null or absent: nothing. */
  publishes?: PublishFields | null;
  /** What the step saved last (null at first); kept across attempts and deliveries. */
  checkpoint: unknown;
  /** True when this segment continues after steps it added have finished. */
  resumed: boolean;
  /** Fires on the step's timeout, on cancellation of the run and on shutdown. */
  signal: AbortSignal;
  /** The step's timeout (ms), after which `signal` fires. */
  timeoutMs: number;
  /** What the step may render and produce (SWITCHYARD_MAX_RENDERED_BYTES, ...). */
  bounds: Bounds;
  /**
   * A key naming a provider call of this attempt (`<run>.<step>.<attempt>.<name>`; without a
   * name, the nth call of this delivery): a call told to wait for its turn must be asked again
   * under the same key. A kind whose later delivery resumes past its first calls (an
   * orchestrator's turns) names them.
   */
  callKey(name?: string): string;
  log(): Logger;
  /** Save progress, durably, before doing anything that must not be repeated. */
  saveCheckpoint(checkpoint: unknown): Promise<void>;
  /**
   * Add steps to the run as children of this step (records, DAG nodes with a `parent` edge,
   * events and their jobs, with the owner/ref rules of a top-level DAG). Ids must be
   * deterministic (`<this step>.<part>`): adding the same ids again adds nothing. Return
   * `{type: 'wait'}` afterwards; the step is resumed once they have all finished.
   */
  addSteps(steps: readonly ChildStep[]): Promise<void>;
  /** Records of steps of this run (e.g. the children it added, once resumed). */
  steps(ids: readonly string[]): Promise<StepRecord[]>;
  /** Report progress while working (a `step.progress` event and BullMQ job progress). */
  progress(data: Record<string, unknown>): void;
  /**
   * Send a streaming answer's text, as it arrived since the last delta, to the run's live
   * viewers (a `step.delta {attempt, text}`, never logged: shared/deltas.ts coalesces the
   * pieces). Settles once sent or dropped; never rejects.
   */
  delta(text: string): Promise<void>;
  /**
   * Keep these on the step's record with its next write, whatever it is (a checkpoint, a
   * retry, the failure; the result's own input wins): the input as rendered, the tool calls
   * of its turns so far. Its provider calls are kept there by themselves (`debug`).
   */
  record(fields: { input?: unknown; calls?: ToolCallRecord[] }): void;
  /**
   * The provider as this step must call it (every provider call of a step goes through it):
   * each answered call is counted in the step's usage (src/calls/usage-meter.ts), and names
   * the attempt it is made for: in a run with a token or cost budget each call reserves against
   * the budget first (src/calls/admission/budget-gate.ts; see src/calls/pipeline.ts).
   */
  metered(provider: Provider): Provider;
}

export type StepOutcome =
  /** The step's result; recorded durably before its job completes. */
  | {
      type: 'succeeded';
      output: unknown;
      input?: unknown;
      model?: string | null;
      event?: Record<string, unknown>;
      /** The run whose recorded output this is (a rerun). */ reusedFrom?: string;
    }
  /** It added steps and waits for them (no worker slot is held meanwhile). */
  | { type: 'wait' }
  /**
   * Nothing to do (e.g. a forEach over an empty list): the step ends `skipped` with `reason`;
   * with `stopRun`, its whole run ends early, `succeeded`, its other steps cancelled.
   */
  | { type: 'skipped'; reason: string; stopRun?: boolean }
  /**
   * Wait, without a worker slot, until `untilMs` (epoch ms) or until something wakes it (an
   * approval promotes its job): the step is `waiting` with `reason`, and resumed when it wakes.
   */
  | {
      type: 'sleep';
      untilMs: number;
      reason: string;
      /** More for its `step.waiting` event (the calls a decision is asked on). */ details?: Record<string, unknown>;
    };

export interface StepExecutor<K extends StepKind = StepKind> {
  /** An executor that works only on what it read (concat, merge) answers, or throws, at once: callers await it inside try. */
  execute(step: CompiledStepOf<K>, ctx: ExecutionContext): StepOutcome | Promise<StepOutcome>;
}

/** One executor per kind; a kind without one does not compile. */
export type Executors = { [K in StepKind]: StepExecutor<K> };
