/**
 * Probe (no target): Redis' instructions per single-step run, Switchyard's against the floor's
 * (lib/durable.ts), all of them and BullMQ's scripts' alone, on a Redis of its own under
 * valgrind's callgrind (lib/callgrind.ts: steady on a busy machine, about 50 times slower).
 * Switchyard's own scripts are sent as EVAL here (not EVALSHA), so that `evalShaCommand` is
 * BullMQ's alone; EVAL hashes each script's source on every call, so Switchyard's total is
 * printed both as measured and less that hashing (`sha1hex`). (m)'s window and concurrency;
 * BullMQ's script calls per run as this process sent them. See docs/adr/005.
 *
 *   node --import tsx bench/probes/bullmq-instructions.ts [runs]
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { luaSource } from '../../src/store/scripts/script.js';
import { callgrindRedis, instructions } from '../lib/callgrind.js';
import { DurableWrites } from '../lib/durable.js';
import { scriptNames } from '../lib/script-names.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { fmt, withTimeout } from '../lib/util.js';
import { IN_FLIGHT, SINGLE_CONCURRENCY, rawJobOptions, startRawQueue, windowed } from '../scenarios/single.js';

const N = Number(process.argv[2] ?? 300);

// Switchyard's scripts by SHA, to send as EVAL with their source.
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const sources = new Map<string, string>();
for (const dir of [new URL('../../src/store/scripts/lua/', import.meta.url), new URL('../../src/calls/admission/lua/', import.meta.url)]) {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.lua'))) {
    const source = luaSource(f.slice(0, -4), dir);
    sources.set(sha1(source), source);
  }
}
const names = scriptNames();
const calls = new Map<string, number>();
let counting = false;
type Sent = { name: string; args: unknown[] };
const proto = Redis.prototype as unknown as { sendCommand: (c: Sent, ...r: unknown[]) => unknown };
const send = proto.sendCommand;
proto.sendCommand = function (this: Redis, c, ...r) {
  if (c.name !== 'evalsha') return send.call(this, c, ...r);
  const sha = String(c.args[0]);
  const name = names.get(sha) ?? sha;
  if (counting) calls.set(name, (calls.get(name) ?? 0) + 1);
  const source = sources.get(sha);
  if (!source) return send.call(this, c, ...r);
  // The same command made a plain EVAL (its promise, reply encoding and arguments kept; only the
  // first, the SHA, becomes the source): script.ts builds its own EVALSHA command and awaits it.
  c.name = 'eval';
  c.args = [source, ...c.args.slice(1)];
  return send.call(this, c, ...r);
};

const cg = await callgrindRedis();
const c = SINGLE_CONCURRENCY;
const sy = await startSwitchyard({ name: 'instr', agents: { one: echoAgent(0, c) }, workflows: [], redisUrl: cg.url });
const writes = new DurableWrites(cg.url);
const floor = await startRawQueue('instr-floor', c, writes.processor(), cg.url);
let seq = 0;
const syRound = async () => {
  const ends: Promise<unknown>[] = [];
  await windowed(N, IN_FLIGHT, async (i) => {
    const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `task ${i}` });
    ends.push(withTimeout(sy.finished(id), 600_000, `run ${id}`));
  });
  await Promise.all(ends);
};
const floorRound = async () => {
  const ends: Promise<unknown>[] = [];
  await windowed(N, IN_FLIGHT, async (i) => {
    const id = `j${seq++}`;
    await writes.run(id, `task ${i}`);
    await floor.queue.add('task', { task: `task ${i}` }, rawJobOptions(id));
    ends.push(withTimeout(floor.done(id), 600_000, `raw job ${id}`));
  });
  await Promise.all(ends);
};
const measure = async (label: string, round: () => Promise<void>) => {
  calls.clear();
  counting = true;
  const { all, evalsha, sha1hex } = await instructions(cg, round);
  counting = false;
  const bull = [...calls].filter(([k]) => k.startsWith('bullmq:')).map(([k, v]) => `${k.slice(7)} ${fmt(v / N, 2)}`);
  console.log(
    `${label.padEnd(11)} ${fmt(all / N / 1000, 0).padStart(5)} k instructions/run (${fmt((all - sha1hex) / N / 1000, 0)} k less EVAL's hashing), BullMQ's scripts ${fmt(evalsha / N / 1000, 0)} k (${bull.join(', ')} per run)`,
  );
};
try {
  await syRound();
  await floorRound();
  for (let i = 0; i < 2; i++) {
    await measure('Switchyard', syRound);
    await measure('floor', floorRound);
  }
} finally {
  proto.sendCommand = send;
  await floor.close();
  await writes.close();
  await sy.close();
  await cg.destroy();
}
