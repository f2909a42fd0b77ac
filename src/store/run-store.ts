/**
 * The run store: every reader and writer of run state in Redis, one part per noun, all on one
 * connection and addressed by a Scope (see scope.ts, keys.ts):
 * - `records`: runs (create, read, list), their definitions, idempotency keys, queued runs;
 * - `steps`: step state as the step machine moves it (begin, transition, checkpoint, complete, add);
 * - `events`: a run's event log, read or followed live;
 * - `budgets`: what calls hold against a run's budget and in the shared limiter;
 * - `envelopes`: what a workspace or an API key may spend per day, and what it spent today;
 * - `gates`: decisions on approval gates, feedback on results;
 * - `endings`: how a run's state ends (run-finish), and who is told;
 * - `fair`: the fair turns of new jobs on the cell's queues, by workspace;
 * - `outputs`: the work outputs its steps emit (emit_output), kept on the run;
 * - `drafts`: what a running step gives for the run's context (publish_context), published with its result.
 * A finished run of a few steps is compacted into its one hash (see keys.run and compacted.ts);
 * every reader takes either form. Every change goes through one of the scripts in scripts/, so
 * each is atomic with its event and its outbox entry. Key names come from keys.ts only.
 */
import type { Redis } from 'ioredis';
import { silentLogger, type Logger } from '../logger.js';
import { RunBudgets } from './budgets.js';
import { RunEndings } from './endings.js';
import { Envelopes } from './envelopes.js';
import { EventLog } from './event-log.js';
import { FairTurns } from './fair.js';
import { ContextDrafts } from './context-drafts.js';
import { Gates } from './gates.js';
import { RunRecords } from './records.js';
import { StepState } from './steps.js';
import { WorkOutputs } from './work-outputs.js';
import type { StoreContext, StoreOptions } from './store-context.js';
import type { Cell } from './scope.js';

export type { Admission, CreateRunReply, EnvelopeRead, FairRequest, NewStep, RecordFields, StepReading, StepTransition, StepResult } from './scripts/index.js';
export type { BudgetReserved, NewRun, RunState } from './records.js';
export type { StoreOptions } from './store-context.js';

export class RunStore implements StoreContext {
  readonly redis: Redis;
  readonly retentionSeconds: number;
  readonly outbox: boolean;
  readonly keepCompletedJobs: number;
  readonly logger: Logger;
  readonly records: RunRecords;
  readonly steps: StepState;
  readonly events: EventLog;
  readonly budgets: RunBudgets;
  readonly global: Cell | undefined;
  readonly envelopes: Envelopes;
  readonly gates: Gates;
  readonly endings: RunEndings;
  readonly fair: FairTurns;
  readonly outputs: WorkOutputs;
  readonly drafts: ContextDrafts;

  constructor(opts: StoreOptions) {
    this.redis = opts.redis;
    this.retentionSeconds = opts.retentionSeconds;
    this.outbox = opts.outbox;
    this.keepCompletedJobs = opts.keepCompletedJobs ?? 0;
    this.logger = opts.logger ?? silentLogger;
    this.global = opts.global;
    this.budgets = new RunBudgets(this);
    this.envelopes = new Envelopes(this);
    this.endings = new RunEndings(this, this.budgets);
    this.steps = new StepState(this, this.endings.finished);
    this.records = new RunRecords(this, this.steps);
    this.events = new EventLog(this);
    this.gates = new Gates(this, this.records);
    this.fair = new FairTurns(this);
    this.outputs = new WorkOutputs(this);
    this.drafts = new ContextDrafts(this);
  }

  /** Stop the shared event reader (its followers end). The connection is the caller's. */
  close(): void {
    this.events.close();
  }
}
