/**
 * The processor of the conversations queue: one job per turn, run when the turn becomes the
 * conversation's active one. It folds older messages into the summary when due (a run of the
 * summarizer), starts the turn's run (an agent task on the conversation so far), waits for it
 * to end, appends its answer, usage and cost, and hands the conversation to the next turn.
 *
 * Durable by construction: each run is submitted with an idempotency key of the turn's
 * (`conv.<id>.s<n>`, `conv.<id>.t<n>`), so a job delivered again after a crash finds the same
 * run rather than starting another; each change to the record is written over the version it
 * read, and only once (a turn already ended is not written again); the next turn's job has a
 * deterministic id. A run's end is awaited on the process's event feed (no polling); a job
 * whose run is still going after a short wait is delayed and looks again, holding no worker
 * slot for a long run.
 */
import { DelayedError, type Job, type Processor } from 'bullmq';
import type { Logger } from '../logger.js';
import { BudgetExceededError, ConflictError, EnvelopeSpentError, NonRetryableError, NotFoundError, ValidationError } from '../errors/index.js';
import type { Conversation, ConversationTurn } from '../model/conversation.js';
import type { RunRecord, Usage } from '../model/run.js';
import type { ConversationStore } from '../store/conversations.js';
import type { RunRecords } from '../store/records.js';
import type { Cell, Scope } from '../store/scope.js';
import type { Submissions } from '../submit/submissions.js';
import type { Conversations, TurnJobData } from './conversations.js';
import { answerText, summaryPlan, turnInput, type TurnInput } from './history.js';

export interface TurnProcessorDeps {
  cell: Cell;
  store: ConversationStore;
  conversations: Pick<Conversations, 'enqueue'>;
  submissions: Pick<Submissions, 'submitAgentTask'>;
  /** A run once it has ended, awaited on the process's event feed (RunQueries.awaitEnd); undefined when not within `waitMs`. */
  awaitRunEnd: (scope: Scope, runId: string, waitMs: number, signal: AbortSignal) => Promise<RunRecord | undefined>;
  /** Whether Redis still holds the run (a run it no longer holds, and not found in the archive either, is gone). */
  records: Pick<RunRecords, 'status'>;
  logger: Logger;
  /** The agent that summarises older messages (default: the conversation's own). */
  summarizer?: string | undefined;
  /** How long a job waits for its run before it is delayed and looks again (ms). @default 3000 */
  waitMs?: number;
}

/** A run that did not end within the job's wait: the job is delayed and looks again. */
class StillRunning extends Error {}

/** Errors that are the turn's own (its agent gone, a budget spent...): the turn fails, the next one goes. */
const TURN_ERRORS = [ValidationError, NotFoundError, ConflictError, BudgetExceededError, EnvelopeSpentError, NonRetryableError];

export function createTurnProcessor(deps: TurnProcessorDeps): Processor<TurnJobData> {
  const turns = new TurnRunner(deps);
  return async (job: Job<TurnJobData>, token?: string) => {
    try {
      return await turns.run(job.data);
    } catch (err) {
      if (!(err instanceof StillRunning)) throw err;
      await job.moveToDelayed(Date.now() + 250, token);
      throw new DelayedError();
    }
  };
}

class TurnRunner {
  constructor(private readonly deps: TurnProcessorDeps) {}

  async run(data: TurnJobData): Promise<string> {
    const scope: Scope = { tag: this.deps.cell.tag, workspace: data.workspaceId };
    const conversation = await this.deps.store.get(scope, data.conversationId);
    const turn = conversation?.turns[data.n - 1];
    if (!conversation || !turn) return 'gone';
    if (turn.status === 'succeeded' || turn.status === 'failed') {
      // Ended before a crash cut the job short: the next turn's job may not have been added.
      await this.deps.conversations.enqueue(scope, conversation);
      return 'ended';
    }
    if (conversation.activeTurn !== data.n) return 'not its turn';
    try {
      const ready = await this.summarise(scope, conversation, turn);
      await this.answer(scope, ready, data.n);
    } catch (err) {
      if (!TURN_ERRORS.some((c) => err instanceof c)) throw err;
      await this.end(scope, data, { status: 'failed', error: (err as Error).message });
    }
    return 'done';
  }

  /** Fold older messages into the summary if due before this turn; the conversation as it is then. */
  private async summarise(scope: Scope, conversation: Conversation, turn: ConversationTurn): Promise<Conversation> {
    const plan = summaryPlan(conversation, turn.n);
    if (!plan) return conversation;
    const runId = turn.summaryRunId ?? (await this.submit(scope, conversation, turn.n, 's', this.deps.summarizer ?? conversation.agent, plan.input));
    const run = await this.waitFor(scope, runId);
    const ok = run.status === 'succeeded';
    if (!ok) this.deps.logger.warn({ conversationId: conversation.id, runId, status: run.status }, 'summary run did not succeed; the turn goes without it');
    const updated = await this.deps.store.update(scope, conversation.id, (c) => {
      const t = c.turns[turn.n - 1];
      // Recorded already (a job delivered again): its usage is counted once.
      if (!t || t.summaryUsage !== undefined) return undefined;
      const summary = ok ? { text: answerText(run.output), throughTurn: plan.throughTurn, runId, at: new Date().toISOString() } : c.summary;
      const turns = c.turns.map((x) => (x.n === turn.n ? { ...x, summaryUsage: run.usage } : x));
      return { ...c, turns, ...(summary ? { summary } : {}), usage: addUsage(c.usage, run.usage) };
    });
    if (!updated) throw new NotFoundError(`session "${conversation.id}" was deleted`);
    return updated;
  }

  /** Start the turn's run (once), wait for it, and record what it answered. */
  private async answer(scope: Scope, conversation: Conversation, n: number): Promise<void> {
    const turn = conversation.turns[n - 1]!;
    const runId = turn.runId ?? (await this.submit(scope, conversation, n, 't', conversation.agent, turnInput(conversation, n)));
    const run = await this.waitFor(scope, runId);
    const data = { workspaceId: scope.workspace, conversationId: conversation.id, n };
    if (run.status === 'succeeded' || run.status === 'partial_success') {
      await this.end(scope, data, { status: 'succeeded', answer: answerText(run.output), runStatus: run.status, usage: run.usage });
    } else {
      await this.end(scope, data, { status: 'failed', error: run.error ?? `run ${run.status}`, runStatus: run.status, usage: run.usage });
    }
  }

  /** Submit a run of the turn (`s`: its summary, `t`: the turn itself), once, and note its id on the turn. */
  private async submit(scope: Scope, conversation: Conversation, n: number, part: 's' | 't', agent: string, input: TurnInput): Promise<string> {
    const res = await this.deps.submissions.submitAgentTask(scope, agent, input, { idempotencyKey: `conv.${conversation.id}.${part}${n}` });
    await this.deps.store.update(scope, conversation.id, (c) => {
      const t = c.turns[n - 1];
      if (!t || t.status === 'succeeded' || t.status === 'failed') return undefined;
      const changed: ConversationTurn = part === 's' ? { ...t, summaryRunId: res.id } : { ...t, runId: res.id, status: 'running' };
      return { ...c, turns: c.turns.map((x) => (x.n === n ? changed : x)) };
    });
    return res.id;
  }

  /** Record turn `n` ended (once) and make the next turn the active one; then add its job. */
  private async end(scope: Scope, data: TurnJobData, result: Partial<ConversationTurn> & Pick<ConversationTurn, 'status'>): Promise<void> {
    const updated = await this.deps.store.update(scope, data.conversationId, (c) => {
      const t = c.turns[data.n - 1];
      if (!t || t.status === 'succeeded' || t.status === 'failed') return undefined;
      const ended: ConversationTurn = { ...t, ...result, finishedAt: new Date().toISOString() };
      const next = c.turns[data.n] ? data.n + 1 : undefined;
      const { activeTurn: _, ...rest } = c;
      return {
        ...rest,
        turns: c.turns.map((x) => (x.n === data.n ? ended : x)),
        usage: result.usage ? addUsage(c.usage, result.usage) : c.usage,
        ...(next !== undefined ? { activeTurn: next } : {}),
      };
    });
    if (updated) await this.deps.conversations.enqueue(scope, updated);
  }

  /** The run once it has ended (a run gone from Redis and the archive: NotFoundError); StillRunning when it has not within the wait. */
  private async waitFor(scope: Scope, runId: string): Promise<RunRecord> {
    const run = await this.deps.awaitRunEnd(scope, runId, this.deps.waitMs ?? 3_000, new AbortController().signal);
    if (run) return run;
    // Not ended in time, or not found at all (the wait says neither apart): a run Redis no longer holds is gone.
    if ((await this.deps.records.status(scope, runId)) === null) throw new NotFoundError(`run "${runId}" is gone`);
    throw new StillRunning();
  }
}

function addUsage(a: Usage, b: Usage): Usage {
  const cost = a.costUsd !== undefined || b.costUsd !== undefined ? Math.round(((a.costUsd ?? 0) + (b.costUsd ?? 0)) * 1e8) / 1e8 : undefined;
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, ...(cost !== undefined ? { costUsd: cost } : {}) };
}
