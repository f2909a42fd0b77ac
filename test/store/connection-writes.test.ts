/**
 * How commands reach Redis: a script call is one EVALSHA, sent again with the script's text
 * when Redis does not hold it (NOSCRIPT); a connection's commands of one tick leave in one
 * socket write while it awaits replies, and a command sent alone is written at once. Replies
 * and their order are what they were.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../src/store/connection.js';
import { luaSource, Script } from '../../src/store/scripts/script.js';
import { cleanupPrefix, REDIS_URL, testPrefix, unique } from '../helpers/redis.js';

const prefix = testPrefix('writes');
let redis: Redis;
let dir: string;

beforeAll(() => {
  redis = connectRedis({ url: REDIS_URL }, { maxRetriesPerRequest: null });
  dir = mkdtempSync(join(tmpdir(), 'sy-script-'));
});

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

/** The socket writes of `redis` from now on (one each for write and writev). */
function countWrites(r: Redis): { writes: () => number } {
  const stream = r.stream as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
  let n = 0;
  for (const m of ['_write', '_writev'] as const) {
    const orig = stream[m];
    stream[m] = (...a: unknown[]) => {
      n++;
      return orig.apply(stream, a);
    };
  }
  return { writes: () => n };
}

/** The names of the commands `r` sends from now on, until `stop()`. */
function recordCommands(r: Redis): { names: string[]; stop: () => void } {
  const names: string[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with `r` as `this`
  const orig = r.sendCommand;
  r.sendCommand = (command, ...rest) => {
    names.push(command.name);
    return orig.call(r, command, ...rest);
  };
  return { names, stop: () => (r.sendCommand = orig) };
}

describe('a script call', () => {
  it('runs a script Redis does not hold (sent with its text after NOSCRIPT), then by its SHA, with its keys and arguments in order', async () => {
    // A text no Redis has seen: its SHA is unknown to Redis, so the first call meets NOSCRIPT.
    const name = unique('echo');
    writeFileSync(join(dir, `${name}.lua`), `-- ${name}\nreturn {redis.call('INCR', KEYS[1]), KEYS[2], ARGV[1], ARGV[2], ARGV[3]}\n`);
    const at = pathToFileURL(`${dir}/`);
    const script = new Script(name, 2, at);
    const [k1, k2] = [`${prefix}:n`, `${prefix}:other`];
    await redis.ping(); // connected: only the script's commands are recorded
    const sent = recordCommands(redis);
    const first = await script.run(redis, [k1, k2], ['a', 7, 'c d']);
    const second = await script.run(redis, [k1, k2], ['e', 8, '']);
    sent.stop();
    expect(first).toEqual([1, k2, 'a', '7', 'c d']);
    expect(second).toEqual([2, k2, 'e', '8', '']);
    expect(sent.names).toEqual(['evalsha', 'eval', 'evalsha']);
    const sha = createHash('sha1').update(luaSource(name, at)).digest('hex');
    expect(await redis.script('EXISTS', sha)).toEqual([1]);
  });

  it('refuses a call with the wrong number of keys before sending anything', () => {
    const script = new Script('steps-read', 0);
    expect(() => script.run(redis, [`${prefix}:x`], [])).toThrow('script steps-read takes 0 keys, got 1');
  });
});

describe("a connection's writes", () => {
  it('a command sent while none awaits its reply is written at once; those after it in the same tick leave together', async () => {
    await redis.ping(); // connected, nothing in flight
    const stream = redis.stream as unknown as { writableCorked: number };
    const alone = redis.incr(`${prefix}:c`);
    expect(stream.writableCorked).toBe(0);
    const next = redis.incr(`${prefix}:c`);
    expect(stream.writableCorked).toBe(1);
    expect([await alone, await next]).toEqual([1, 2]);
    expect(stream.writableCorked).toBe(0);
  });

  it('200 commands of one tick: their replies in order, in far fewer socket writes than commands', async () => {
    const key = `${prefix}:many`;
    await redis.ping();
    const counted = countWrites(redis);
    const replies = await Promise.all(Array.from({ length: 200 }, () => redis.incr(key)));
    expect(replies).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // The first is written at once, the other 199 together at the end of the tick.
    expect(counted.writes()).toBeLessThanOrEqual(2);
  });

  it("a duplicate's writes are coalesced too (BullMQ's blocking connections are duplicates)", async () => {
    const dup = redis.duplicate();
    try {
      await dup.ping();
      const counted = countWrites(dup);
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => dup.set(`${prefix}:d${i}`, String(i))));
      expect(replies.every((r) => r === 'OK')).toBe(true);
      expect(counted.writes()).toBeLessThanOrEqual(2);
      expect(await dup.get(`${prefix}:d49`)).toBe('49');
    } finally {
      await dup.quit();
    }
  });
});
