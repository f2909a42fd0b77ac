/**
 * A streaming step's text reaches the viewers of its run's event stream as it arrives
 * (`step.delta {attempt, text}`): real Redis and workers, the real Anthropic and OpenAI SDKs
 * streaming from the fake LLM server, a viewer on real SSE (GET /v1/runs/:id/events).
 * Each model call waits until the viewer's stream has given its first event (it is then
 * subscribed), so the viewer is connected for the whole answer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sseFrames, type SseFrame } from '../../src/client/sse.js';
import { runEvents } from '../../src/client/events.js';
import { endsWithToolResults, startFakeLlmServer, type FakeLlmServer, type FakeResponse, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

const fixed = { type: 'fixed', delayMs: 100, jitter: 0 };

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'step-deltas',
    fake,
    agents: {
      'claude-stream': { provider: 'anthropic', model: 'claude-test', stream: true, attempts: 1 },
      'gpt-stream': { provider: 'openai', model: 'gpt-test', stream: true, attempts: 1 },
      'gpt-retry': { provider: 'openai', model: 'gpt-test', stream: true, attempts: 2, backoff: fixed },
      gpt: { provider: 'openai', model: 'gpt-test', attempts: 1 },
      lead: { provider: 'anthropic', model: 'claude-test', stream: true, delegates: ['helper'], attempts: 1 },
      helper: { provider: 'echo', echo: { latencyMs: 20 }, description: 'Helps' },
    },
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

interface Frame extends SseFrame {
  json: { id: string; type: string; stepId?: string; data: Record<string, unknown> };
}

/** Follow a run's events over SSE as they come; `first` settles with the first frame (the viewer is subscribed then), `done` after run.finished. */
function watch(runId: string): { frames: Frame[]; first: Promise<void>; done: Promise<Frame[]> } {
  const frames: Frame[] = [];
  let seen!: () => void;
  const first = new Promise<void>((r) => (seen = r));
  const done = (async () => {
    const res = await fetch(`${h.baseUrl}/v1/runs/${runId}/events`, { signal: AbortSignal.timeout(30_000) });
    expect(res.status).toBe(200);
    for await (const frame of sseFrames(res.body!)) {
      frames.push({ ...frame, json: JSON.parse(frame.data) as Frame['json'] });
      seen();
      if (frame.event === 'run.finished') break;
    }
    return frames;
  })();
  done.catch(() => seen());
  return { frames, first, done };
}

/** Model calls wait for `open()`; each answer is the directives' (or `answer(req)`'s). */
function gated(answer?: (req: RecordedRequest) => FakeResponse | undefined): { open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  fake.respondWith(async (req) => {
    await opened;
    return answer?.(req);
  });
  return { open };
}

/** Submit a run of `agent`, watch it from before its model answers, and return what the viewer saw and the run. */
async function streamedRun(agent: string, task: string, answer?: (req: RecordedRequest) => FakeResponse | undefined) {
  const gate = gated(answer);
  const res = await h.request('POST', '/v1/runs', { agent, input: { task } });
  expect(res.status).toBe(202);
  const viewer = watch(res.body.id);
  await viewer.first;
  gate.open();
  const frames = await viewer.done;
  const run = await h.waitForRun(res.body.id);
  return { runId: res.body.id as string, frames, run };
}

const LONG = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
const deltasOf = (frames: Frame[]) => frames.filter((f) => f.event === 'step.delta');
const indexOf = (frames: Frame[], type: string) => frames.findIndex((f) => f.event === type);

describe('step.delta to a viewer connected while the step streams', () => {
  it.each(['claude-stream', 'gpt-stream'])('%s: coalesced deltas, in order between step.started and step.completed, joining to the output', async (agent) => {
    // 40 pieces 20 ms apart: at least 800 ms of streaming.
    const { frames, run, runId } = await streamedRun(agent, `${LONG} [[chunks:40]] [[chunk-delay:20]]`);
    expect(run.status).toBe('succeeded');
    const deltas = deltasOf(frames);
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    // Coalesced: far fewer deltas than pieces.
    expect(deltas.length).toBeLessThan(20);
    for (const d of deltas) {
      expect(d.id).toBeUndefined(); // no `id:`: Last-Event-ID stays at the last logged event
      expect(d.json).toMatchObject({ id: '', type: 'step.delta', runId, stepId: agent, data: { attempt: 1, text: expect.any(String) } });
    }
    const at = deltas.map((d) => frames.indexOf(d));
    expect(Math.min(...at)).toBeGreaterThan(indexOf(frames, 'step.started'));
    expect(Math.max(...at)).toBeLessThan(indexOf(frames, 'step.completed'));
    expect(deltas.map((d) => d.json.data.text).join('')).toBe(run.steps[0]!.output);
    expect(String(run.output)).toContain('word59');
    // The logged events are all there, each with its id, in order.
    const logged = frames.filter((f) => f.event !== 'step.delta').map((f) => Number(f.id));
    expect(logged).toEqual(logged.map((_, i) => i + 1));
  });

  it('deltas are live only: not in the log, not replayed to a viewer who comes later, nor to the typed client', async () => {
    const { runId, frames } = await streamedRun('gpt-stream', `${LONG} [[chunks:20]] [[chunk-delay:10]]`);
    expect(deltasOf(frames).length).toBeGreaterThan(0);
    const log = await h.system.engine.store.events.read(h.system.scope(), runId);
    expect(log.map((e) => e.type)).not.toContain('step.delta');
    const later = await watch(runId).done;
    expect(later.map((f) => f.event)).toEqual(frames.filter((f) => f.event !== 'step.delta').map((f) => f.event));
    const typed = [];
    for await (const e of runEvents({ url: `${h.baseUrl}/v1/runs/${runId}/events`, headers: {}, fetch })) typed.push(e.type);
    expect(typed).not.toContain('step.delta');
    expect(typed.at(-1)).toBe('run.finished');
  });

  it('a retried attempt: each delta names its attempt, the failed attempt text comes before step.retrying', async () => {
    let calls = 0;
    const { frames, run } = await streamedRun('gpt-retry', `${LONG} [[chunks:10]] [[chunk-delay:10]]`, () =>
      ++calls === 1 ? { text: 'the first try breaks off here', chunks: 4, chunkDelayMs: 10, streamError: 'server' } : undefined,
    );
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]!.attempts).toBe(2);
    const deltas = deltasOf(frames);
    const first = deltas.filter((d) => d.json.data.attempt === 1);
    const second = deltas.filter((d) => d.json.data.attempt === 2);
    // The piece that came before the stream broke off.
    const broken = first.map((d) => d.json.data.text).join('');
    expect(broken.length).toBeGreaterThan(0);
    expect('the first try breaks off here'.startsWith(broken) && broken.length < 29).toBe(true);
    expect(Math.max(...first.map((d) => frames.indexOf(d)))).toBeLessThan(indexOf(frames, 'step.retrying'));
    expect(Math.min(...second.map((d) => frames.indexOf(d)))).toBeGreaterThan(indexOf(frames, 'step.retrying'));
    expect(second.map((d) => d.json.data.text).join('')).toBe(run.steps[0]!.output);
  });

  it("an orchestrator streams each turn's text: what it says before delegating, then its answer after the delegate's result", async () => {
    const { frames, run } = await streamedRun('lead', 'Ask the helper, then answer', (req) =>
      endsWithToolResults(req.body)
        ? { text: `The helper says it is done. ${LONG}`, chunks: 30, chunkDelayMs: 20 }
        : { text: 'Let me ask the helper first.', toolCalls: [{ name: 'delegate', input: { agent: 'helper', task: 'help' } }] },
    );
    expect(run.status, JSON.stringify(run.steps.map((s) => [s.stepId, s.error]))).toBe('succeeded');
    const deltas = deltasOf(frames);
    expect(deltas.every((d) => d.json.stepId === 'lead' && d.json.data.attempt === 1)).toBe(true);
    const helperDone = frames.findIndex((f) => f.event === 'step.completed' && f.json.stepId === 'lead.1.helper');
    expect(helperDone).toBeGreaterThan(-1);
    const textOf = (ds: Frame[]) => ds.map((d) => d.json.data.text).join('');
    expect(textOf(deltas.filter((d) => frames.indexOf(d) < helperDone))).toBe('Let me ask the helper first.');
    const answer = deltas.filter((d) => frames.indexOf(d) > helperDone);
    expect(answer.length).toBeGreaterThanOrEqual(2);
    expect(textOf(answer)).toBe(run.output);
    expect(frames.indexOf(answer.at(-1)!)).toBeLessThan(frames.findIndex((f) => f.event === 'step.completed' && f.json.stepId === 'lead'));
  });

  it('a non-streaming agent sends no deltas', async () => {
    const { frames, run } = await streamedRun('gpt', `${LONG} [[chunks:20]] [[chunk-delay:10]]`);
    expect(run.status).toBe('succeeded');
    expect(fake.requests.at(-1)?.body.stream).toBeUndefined();
    expect(deltasOf(frames)).toEqual([]);
    expect(frames.map((f) => f.event)).toContain('step.completed');
  });
});
