/**
 * The conversations service (the API's sessions): create one with an agent, send it messages,
 * read, list and delete them. A message becomes a turn, queued behind the turn under way; the
 * first turn of an idle conversation becomes its active turn and its job is added to the
 * conversations queue (turn-processor.ts runs it, then starts the next). Job ids are the
 * turn's, so adding one twice adds it once; each message sent also adds the active turn's job
 * again, which repairs a job lost between the record's write and its add.
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { AgentRegistry } from '../agents/registry.js';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { ConversationId, ConversationMemory, type Conversation, type ConversationTurn } from '../model/conversation.js';
import { excerpt } from '../errors/excerpt.js';
import type { ConversationStore } from '../store/conversations.js';
import type { Scope } from '../store/scope.js';

/** What a turn's job carries: where the conversation is and which turn. */
export interface TurnJobData {
  workspaceId: string;
  conversationId: string;
  n: number;
}

export interface ConversationsDeps {
  store: ConversationStore;
  /** The conversations queue of the conversation's cell. */
  queue: Queue;
  /** The agents a workspace sees, read now (`naming`: the one agent asked for). */
  agentsFor: (scope: Scope, naming?: string) => Promise<Pick<AgentRegistry, 'require'>>;
  /** Waits for a run's end on the process's event feed (RunQueries.awaitEnd): a waited turn's run. */
  awaitRunEnd?: (scope: Scope, runId: string, waitMs: number, signal: AbortSignal) => Promise<unknown>;
}

export interface NewConversation {
  agent: string;
  title?: string | undefined;
  memory?: Partial<ConversationMemory> | undefined;
}

/**
 * The most turns one session takes. Its record (turns included) is rewritten at each change and
 * copied to the outbox: a bound keeps both small. Start a new session past it.
 */
export const MAX_TURNS = 1000;

/** A turn job's id: unique in the cell's queue, the same each time the turn is enqueued. */
export const turnJobId = (d: TurnJobData): string => `${d.workspaceId}.${d.conversationId}.${d.n}`;

export function newConversationId(): string {
  const u = randomUUID();
  return `ses_${Date.now().toString(36).padStart(9, '0')}${u.slice(0, 8)}${u.slice(9, 13)}`;
}

export class Conversations {
  constructor(private readonly deps: ConversationsDeps) {}

  async create(scope: Scope, req: NewConversation): Promise<Conversation> {
    const agents = await this.deps.agentsFor(scope, req.agent);
    agents.require(req.agent);
    const now = new Date().toISOString();
    const conversation: Conversation = {
      id: newConversationId(),
      workspaceId: scope.workspace,
      agent: req.agent,
      ...(req.title !== undefined ? { title: req.title } : {}),
      memory: ConversationMemory.parse(req.memory ?? {}),
      createdAt: now,
      updatedAt: now,
      version: 1,
      turns: [],
      usage: { inputTokens: 0, outputTokens: 0 },
    };
    await this.deps.store.create(scope, conversation);
    return conversation;
  }

  async get(scope: Scope, id: string): Promise<Conversation> {
    checkId(id);
    const conversation = await this.deps.store.get(scope, id);
    if (!conversation) throw notFound(id);
    return conversation;
  }

  list(scope: Scope, page: { offset: number; limit: number }): Promise<{ conversations: Conversation[]; total: number }> {
    return this.deps.store.list(scope, page);
  }

  /**
   * Send `message`: a new turn, which runs now if no turn is under way, else after the turns
   * before it. Returns the turn and the conversation as written.
   */
  async say(scope: Scope, id: string, message: string): Promise<{ turn: ConversationTurn; conversation: Conversation }> {
    checkId(id);
    let turn: ConversationTurn | undefined;
    const conversation = await this.deps.store.update(scope, id, (c) => {
      if (c.turns.length >= MAX_TURNS) throw new ConflictError(`session "${id}" has reached ${MAX_TURNS} turns: start a new session`);
      turn = { n: c.turns.length + 1, message, sentAt: new Date().toISOString(), status: 'queued' };
      return { ...c, turns: [...c.turns, turn], activeTurn: c.activeTurn ?? turn.n };
    });
    if (!conversation || !turn) throw notFound(id);
    await this.enqueue(scope, conversation);
    return { turn, conversation };
  }

  /**
   * The conversation once turn `n` has ended (answered or failed), or undefined when it has not
   * within `waitMs`, `signal` fired, or the conversation is gone. The turn's run is awaited on
   * the event feed once it has one; the record is read again around it (the answer is appended
   * a moment after the run ends, by the turn's job).
   */
  async awaitTurn(scope: Scope, id: string, n: number, waitMs: number, signal: AbortSignal): Promise<Conversation | undefined> {
    const deadline = Date.now() + waitMs;
    let runAwaited = false;
    for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
      const conversation = await this.deps.store.get(scope, id);
      const turn = conversation?.turns[n - 1];
      if (!conversation || !turn) return undefined;
      if (turn.status === 'succeeded' || turn.status === 'failed') return conversation;
      if (turn.runId && !runAwaited && this.deps.awaitRunEnd) {
        runAwaited = true;
        await this.deps.awaitRunEnd(scope, turn.runId, Math.max(0, deadline - Date.now()), signal);
        pause = 12;
      }
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return undefined;
      await sleep(Math.min(pause, left), signal);
    }
  }

  /** Delete the conversation (a turn under way is left to end; its answer goes nowhere). */
  async remove(scope: Scope, id: string): Promise<void> {
    checkId(id);
    if (!(await this.deps.store.remove(scope, id))) throw notFound(id);
  }

  /** Add the job of the conversation's active turn (once: its id is the turn's). */
  async enqueue(scope: Scope, conversation: Conversation): Promise<void> {
    if (conversation.activeTurn === undefined) return;
    const data: TurnJobData = { workspaceId: scope.workspace, conversationId: conversation.id, n: conversation.activeTurn };
    await this.deps.queue.add('turn', data, {
      jobId: turnJobId(data),
      attempts: 20,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }
}

/** Resolves after `ms`, or at once when `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** An id that cannot be a session's names nothing (and never reaches the store, where it would name other keys). */
function checkId(id: string): void {
  if (!ConversationId.safeParse(id).success)
    throw new NotFoundError(`"${excerpt(id, 100)}" is not a session id (session ids look like ses_0mx55q17idf6fdb956c48)`);
}

const notFound = (id: string) => new NotFoundError(`session "${id}" not found`);
