/**
 * What the API logs when it refuses: an expected refusal (503 while Redis cannot be reached,
 * the cap on event streams) is one warn line without a stack for a whole burst, with a count of
 * the others when the interval ends; a real 5xx (a bug) is still logged at error, with its stack.
 * Logs are captured from a pino destination.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { errorHandler } from '../../src/api/errors.js';
import { RefusalLog } from '../../src/api/refusals.js';
import { assertAllClosed, startHarness } from '../helpers/harness.js';
import { readEventStream } from '../helpers/sse.js';

interface LogLine {
  level: number;
  msg: string;
  refusal?: string;
  count?: number;
  err?: { stack?: string };
}

/** A logger whose lines land in `lines` (parsed). */
function capturing(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}
const WARN = 40;
const ERROR = 50;

afterAll(() => assertAllClosed());

describe('an expected refusal', () => {
  it('a burst of 503s while Redis cannot be reached logs one warn line, without a stack', async () => {
    const { logger, lines } = capturing();
    const h = await startHarness({ name: 'refusals-redis', agents: { a: { provider: 'echo' } }, pools: false, logger });
    try {
      // The API's connection goes away (it does not come back by itself after a disconnect()).
      h.system.api.redis.disconnect();
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => h.request('GET', i % 2 ? '/v1/runs' : '/v1/runs/run_nope')));
      expect(answers.map((a) => a.status)).toEqual(Array(40).fill(503));
      const refusals = lines.filter((l) => l.refusal !== undefined);
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ level: WARN, refusal: 'redis_unreachable', msg: 'request refused' });
      expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
      expect(JSON.stringify(lines)).not.toMatch(/\n\s+at /);
    } finally {
      await h.close();
    }
  });

  it('the cap on event streams logs one warn line for a burst of refused streams', async () => {
    const { logger, lines } = capturing();
    const h = await startHarness({
      name: 'refusals-cap',
      // The run outlasts the burst however slow the machine is; it is cancelled to end the stream.
      agents: { slow: { provider: 'echo', echo: { latencyMs: 60_000 } } },
      env: { SWITCHYARD_MAX_EVENT_STREAMS: '1' },
      logger,
    });
    try {
      const id = (await h.request('POST', '/v1/runs', { agent: 'slow', input: { task: 'x' } })).body.id as string;
      const first = readEventStream(h.baseUrl, id);
      await expect.poll(() => h.system.api.store.events.feedStats().viewers).toBe(1);
      const refused = await Promise.all(Array.from({ length: 25 }, () => h.request('GET', `/v1/runs/${id}/events`)));
      expect(refused.map((r) => r.status)).toEqual(Array(25).fill(503));
      expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
      await first;
      const refusals = lines.filter((l) => l.refusal !== undefined);
      expect(refusals).toEqual([expect.objectContaining({ level: WARN, refusal: 'event_stream_cap', msg: 'request refused' })]);
      expect(refusals[0]!.err).toBeUndefined();
      expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('counts the refusals of a kind after the first, and logs the count once the interval ends', () => {
    vi.useFakeTimers();
    try {
      const { logger, lines } = capturing();
      const log = new RefusalLog(logger, 100);
      for (let i = 0; i < 5; i++) log.note('redis_unreachable', 503, 'Redis cannot be reached');
      log.note('event_stream_cap', 503, 'this process already serves 1 event streams');
      expect(lines.map((l) => [l.refusal, l.msg])).toEqual([
        ['redis_unreachable', 'request refused'],
        ['event_stream_cap', 'request refused'],
      ]);
      vi.advanceTimersByTime(99);
      expect(lines).toHaveLength(2);
      vi.advanceTimersByTime(1);
      expect(lines).toHaveLength(3);
      expect(lines[2]).toMatchObject({ level: WARN, refusal: 'redis_unreachable', count: 4, msg: 'request refused 4 more times' });
      // A quiet interval closes the kind: the next refusal is logged at once again.
      vi.advanceTimersByTime(100);
      expect(lines).toHaveLength(3);
      log.note('redis_unreachable', 503, 'Redis cannot be reached');
      expect(lines).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a real server error', () => {
  it('is logged at error with its stack, every time', async () => {
    const { logger, lines } = capturing();
    const app = express();
    app.get('/bug', () => {
      throw new TypeError('cannot read properties of undefined');
    });
    app.use(errorHandler(logger));
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bug`;
      for (let i = 0; i < 2; i++) expect((await fetch(url)).status).toBe(500);
      expect(lines.map((l) => l.level)).toEqual([ERROR, ERROR]);
      expect(lines[0]!.err?.stack).toContain('TypeError: cannot read properties of undefined');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
