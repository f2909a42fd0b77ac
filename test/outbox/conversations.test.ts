/**
 * Sessions (conversations) are archived through the outbox: every change to one is copied to
 * the outbox in the same script that writes it, and the consumer hands it to the sink, the
 * latest version last; a deletion reaches the sink as one. Against MongoDB (MONGODB_URI set):
 * an older version never overwrites a newer one, and a deleted one keeps nothing but its ids.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { Conversation } from '../../src/model/conversation.js';
import { OutboxConsumer } from '../../src/outbox/outbox-consumer.js';
import { connectMongo, createModels, MongoSink, type MongoHandle, type MongoModels } from '../../src/outbox/mongo/index.js';
import type { ResultSink } from '../../src/outbox/sink.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

class ConversationSink implements ResultSink {
  readonly writes: { doc: Conversation; deleted: boolean }[] = [];
  async writeRun(): Promise<void> {}
  async writeStep(): Promise<void> {}
  async writeAudit(): Promise<void> {}
  async writeConversation(doc: Conversation, meta: { deleted: boolean }): Promise<void> {
    this.writes.push({ doc, deleted: meta.deleted });
  }
  async close(): Promise<void> {}
}

describe('a session through the outbox', () => {
  let h: Harness;
  let consumer: OutboxConsumer;
  const sink = new ConversationSink();

  beforeAll(async () => {
    h = await startHarness({ name: 'outbox-conversations', outbox: true, agents: { a: { provider: 'echo', echo: { latencyMs: 5 } } } });
    consumer = new OutboxConsumer({ redis: h.system.engine.store.redis, cell: h.system.cell, sink, logger: silentLogger, blockMs: 200 });
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.stop();
    await h?.close();
    assertAllClosed();
  });

  it('reaches the sink at every change, its answered turn last, then its deletion', async () => {
    const created = await h.request('POST', '/v1/sessions', { agent: 'a', title: 'archived' });
    const id = created.body.id as string;
    await h.request('POST', `/v1/sessions/${id}/messages`, { message: 'hello' });
    const answered = (w: { doc: Conversation }) => w.doc.id === id && w.doc.turns[0]?.status === 'succeeded';
    await poll(
      'the answered turn in the sink',
      () => sink.writes,
      (ws) => ws.some(answered),
      { timeoutMs: 20_000 },
    );
    const mine = sink.writes.filter((w) => w.doc.id === id);
    // Created, the message queued, its run started, its answer: in the order they were written.
    expect(mine.map((w) => w.doc.version)).toEqual([...mine.map((w) => w.doc.version)].sort((x, y) => x - y));
    expect(mine[0]!.doc).toMatchObject({ version: 1, title: 'archived', workspaceId: 'default', turns: [] });
    const last = mine.at(-1)!.doc;
    expect(last.turns[0]).toMatchObject({ message: 'hello', status: 'succeeded', runId: expect.stringMatching(/^run_/) });
    expect(last.turns[0]!.answer).toEqual(expect.any(String));

    expect((await h.request('DELETE', `/v1/sessions/${id}`)).status).toBe(204);
    await poll(
      'the deletion in the sink',
      () => sink.writes,
      (ws) => ws.some((w) => w.doc.id === id && w.deleted),
      { timeoutMs: 10_000 },
    );
  }, 40_000);
});

describe.skipIf(!process.env.MONGODB_URI)('sessions in MongoDB (needs MONGODB_URI)', () => {
  let handle: MongoHandle;
  let db: Connection;
  let models: MongoModels;
  let sink: MongoSink;
  const conversation = (version: number, title: string): Conversation => ({
    id: 'ses_0000000000abcdef12',
    workspaceId: 'acme',
    agent: 'a',
    title,
    memory: { maxMessages: 20, summarizeAfter: 40 },
    createdAt: '2026-12-07T00:00:00.000Z',
    updatedAt: '2026-12-07T00:00:00.000Z',
    version,
    turns: [],
    usage: { inputTokens: 0, outputTokens: 0 },
  });

  beforeAll(async () => {
    handle = await connectMongo(process.env.MONGODB_URI ?? '', silentLogger, { serverSelectionTimeoutMS: 5000 });
    db = handle.conn.useDb(`sytest_conv_${randomBytes(4).toString('hex')}`, { useCache: false });
    models = createModels(db);
    sink = new MongoSink({ models });
    await models.Conversation.init();
  });

  afterAll(async () => {
    await db?.dropDatabase();
    await handle?.close();
  });

  it('keeps the latest version: an older one delivered again changes nothing', async () => {
    await sink.writeConversation(conversation(3, 'third'), { deleted: false });
    await sink.writeConversation(conversation(2, 'second'), { deleted: false });
    await sink.writeConversation(conversation(3, 'third'), { deleted: false });
    const stored = await models.Conversation.findById('acme/ses_0000000000abcdef12').lean().exec();
    expect(stored).toMatchObject({ version: 3, title: 'third' });
    expect(await models.Conversation.countDocuments({})).toBe(1);
  });

  it('keeps nothing of a deleted one but its ids, and an older version cannot bring it back', async () => {
    await sink.writeConversation(conversation(4, 'fourth'), { deleted: true });
    await sink.writeConversation(conversation(4, 'fourth'), { deleted: false });
    const stored = await models.Conversation.findById('acme/ses_0000000000abcdef12').lean().exec();
    expect(stored).toMatchObject({ version: 5, workspaceId: 'acme', id: 'ses_0000000000abcdef12' });
    expect(stored?.deletedAt).toBeInstanceOf(Date);
    expect(stored).not.toHaveProperty('title');
  });
});
