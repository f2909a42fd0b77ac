/**
 * Conversations (the API's sessions) as Redis keeps them: one JSON record per conversation
 * (keys.conversation), turns included, and the workspace's index by creation time
 * (keys.conversationIndex). Every change is a read, a change made by the caller, and one script
 * (conversation-put.lua) that writes it only over the version read, with its index entry and
 * its outbox copy (MongoDB); a change that lost the race is made again on the newer record.
 * Kept until deleted (no retention TTL: a conversation is the user's, like a schedule).
 */
import type { Redis } from 'ioredis';
import { Conversation } from '../model/conversation.js';
import { keys } from './keys.js';
import type { Scope } from './scope.js';
import { conversationPut } from './scripts/index.js';

/** A change to a conversation: the record to write, or undefined to leave it as it is. */
export type ConversationChange = (current: Conversation) => Conversation | undefined;

/** How many times a change is made again after losing a race before giving up (only under heavy contention). */
const MAX_TRIES = 50;

export class ConversationStore {
  constructor(private readonly deps: { redis: Redis; outbox: boolean }) {}

  async get(scope: Scope, id: string): Promise<Conversation | null> {
    const text = await this.deps.redis.get(keys.conversation(scope, id));
    return text === null ? null : Conversation.parse(JSON.parse(text));
  }

  /** Store a new conversation (its version 1). */
  async create(scope: Scope, conversation: Conversation): Promise<void> {
    const written = await this.put(scope, conversation, 0);
    if (!written) throw new Error(`conversation ${conversation.id} exists already`);
  }

  /**
   * Apply `change` to the conversation, over the version it read (again on a newer one when
   * another writer came first). Returns the record in force, or null when there is none.
   */
  async update(scope: Scope, id: string, change: ConversationChange): Promise<Conversation | null> {
    for (let i = 0; i < MAX_TRIES; i++) {
      const current = await this.get(scope, id);
      if (!current) return null;
      const next = change(current);
      if (!next) return current;
      const record = { ...next, version: current.version + 1, updatedAt: new Date().toISOString() };
      if (await this.put(scope, record, current.version)) return record;
    }
    throw new Error(`conversation ${id}: too many concurrent changes, try again`);
  }

  /** Delete the conversation; false when there was none. */
  async remove(scope: Scope, id: string): Promise<boolean> {
    for (let i = 0; i < MAX_TRIES; i++) {
      const current = await this.get(scope, id);
      if (!current) return false;
      const done = await conversationPut(this.deps.redis, {
        scope,
        id,
        expectedVersion: current.version,
        record: null,
        createdMs: 0,
        outbox: this.deps.outbox,
      });
      if (done) return true;
    }
    throw new Error(`conversation ${id}: too many concurrent changes, try again`);
  }

  /** A page of the workspace's conversations, newest first, from `offset`; with how many there are. */
  async list(scope: Scope, page: { offset: number; limit: number }): Promise<{ conversations: Conversation[]; total: number }> {
    const { redis } = this.deps;
    const index = keys.conversationIndex(scope);
    const [ids, total] = await Promise.all([redis.zrevrange(index, page.offset, page.offset + page.limit - 1), redis.zcard(index)]);
    if (!ids.length) return { conversations: [], total };
    const texts = await redis.mget(ids.map((id) => keys.conversation(scope, id)));
    const conversations = texts.filter((t): t is string => t !== null).map((t) => Conversation.parse(JSON.parse(t)));
    return { conversations, total };
  }

  private put(scope: Scope, record: Conversation, expectedVersion: number): Promise<boolean> {
    return conversationPut(this.deps.redis, {
      scope,
      id: record.id,
      expectedVersion,
      record: JSON.stringify(record),
      createdMs: Date.parse(record.createdAt),
      outbox: this.deps.outbox,
    });
  }
}
