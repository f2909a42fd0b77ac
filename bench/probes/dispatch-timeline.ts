/**
 * Probe (not a bench scenario, no target): where one in-process dispatch's time goes, in (e)'s
 * shape (one run at a time, submission → the work starts), on Switchyard and on the floor (raw
 * `queue.add` with the run's state written before it and the attempt before the work; see
 * lib/durable.ts). Every Redis command this process sends is noted with its reply (connection,
 * command, a script by its SHA's first 6 characters), and the timeline of the most common
 * order of events is printed as medians from the submission. The sides take turns in blocks of
 * 25 (a side's dispatches rounded up to whole blocks), 50 dispatches each unmeasured first; each
 * dispatch starts once the one before it has completed its job (unlike (e), where a raw side's
 * next dispatch starts as its job's work does). Noting the commands costs a little on both
 * sides; `--plain` notes nothing and prints only the medians. See docs/adr/005.
 *
 *   node --import tsx bench/probes/dispatch-timeline.ts [--dispatches 250] [--plain]
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Provider } from '../../src/calls/provider.js';
import { DurableWrites } from '../lib/durable.js';
import { instantProvider, startSwitchyard } from '../lib/switchyard.js';
import { Arrivals, median } from '../lib/util.js';
import { rawJobOptions, startRawQueue } from '../scenarios/single.js';

const argv = process.argv.slice(2);
const at = argv.indexOf('--dispatches');
const measured = at >= 0 ? Number(argv[at + 1]) : 250;
if (!Number.isInteger(measured) || measured < 1) {
  console.error('usage: node --import tsx bench/probes/dispatch-timeline.ts [--dispatches N (a whole number from 1)] [--plain]');
  process.exit(2);
}
const plain = argv.includes('--plain');
const BLOCK = 25;
const WARMUP = 50;

type Timeline = [ms: number, what: string][];
let noting: Timeline | undefined;

// Every command of every connection of this process (Switchyard's, BullMQ's, the floor's).
interface SentCommand {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
}
const proto = Redis.prototype as unknown as { sendCommand(this: Redis, cmd: SentCommand, stream?: unknown): unknown };
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with the connection as `this` below
const sendCommand = proto.sendCommand;
proto.sendCommand = function (cmd, stream) {
  const timeline = noting;
  if (timeline) {
    const name = cmd.name === 'evalsha' ? `evalsha ${String(cmd.args[0]).slice(0, 6)}` : cmd.name;
    const who = `${(this.options.connectionName ?? 'blocking').slice(0, 28)} ${name}`;
    timeline.push([performance.now(), `send ${who}`]);
    cmd.promise.then(
      () => timeline.push([performance.now(), `reply ${who}`]),
      () => undefined,
    );
  }
  return sendCommand.call(this, cmd, stream);
};

let workStarted: (() => void) | undefined;
// The bench's instant provider, noting when the work starts.
const provider: Provider = {
  name: 'echo',
  complete(req) {
    workStarted?.();
    return instantProvider.complete(req);
  },
};
const sy = await startSwitchyard({
  name: 'ptl',
  agents: { one: { provider: 'echo', concurrency: 8, attempts: 1 } },
  workflows: [],
  providerFor: () => provider,
});
const writes = new DurableWrites();
// A Switchyard run's job completed (after the run's finish, BullMQ's own completion of the job).
const jobsDone = new Arrivals<true>();
for (const worker of sy.pools.workers) worker.on('completed', (job) => jobsDone.arrive((job.data as { runId?: string }).runId ?? '', true));
const floor = await startRawQueue(
  'ptl-floor',
  8,
  writes.processor(() => workStarted?.()),
);

/** One dispatch: its time to the work's start and its timeline (empty when not noted). */
async function dispatch(side: 'switchyard' | 'floor', i: number, note: boolean): Promise<{ ms: number; timeline: Timeline }> {
  const timeline: Timeline = [];
  noting = note ? timeline : undefined;
  const started = new Promise<void>((resolve) => (workStarted = resolve));
  const t0 = performance.now();
  let completed: Promise<unknown>;
  if (side === 'switchyard') {
    const runId = (await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `t${i}` })).id;
    completed = jobsDone.wait(runId);
  } else {
    completed = floor.done(`d${i}`);
    await writes.run(`d${i}`, `t${i}`);
    await floor.queue.add('task', { task: `t${i}` }, rawJobOptions(`d${i}`));
  }
  timeline.push([performance.now(), 'submission returned']);
  await started;
  const ms = performance.now() - t0;
  timeline.push([performance.now(), 'WORK STARTS']);
  noting = undefined;
  await completed;
  return { ms, timeline: timeline.map(([t, what]) => [t - t0, what]) };
}

/** The medians of the most common order of events. */
function typical(timelines: Timeline[]): { count: number; rows: Timeline } {
  const byOrder = new Map<string, Timeline[]>();
  for (const t of timelines) {
    const order = t.map(([, what]) => what).join('|');
    byOrder.set(order, [...(byOrder.get(order) ?? []), t]);
  }
  const group = [...byOrder.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const rows: Timeline = (group[0] ?? []).map(([, what], j) => [median(group.map((t) => t[j]![0])), what]);
  return { count: group.length, rows };
}

const sides = ['switchyard', 'floor'] as const;
const results = { switchyard: { ms: [] as number[], timelines: [] as Timeline[] }, floor: { ms: [] as number[], timelines: [] as Timeline[] } };
let seq = 0;
try {
  for (let i = 0; i < WARMUP; i++) for (const side of sides) await dispatch(side, seq++, false);
  for (let b = 0; results.switchyard.ms.length < measured; b++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(b + k) % sides.length]!;
      for (let i = 0; i < BLOCK; i++) {
        const { ms, timeline } = await dispatch(side, seq++, !plain);
        results[side].ms.push(ms);
        results[side].timelines.push(timeline);
      }
    }
  }
  const sy50 = median(results.switchyard.ms);
  const floor50 = median(results.floor.ms);
  console.log(
    `${results.switchyard.ms.length} dispatches a side${plain ? '' : ', every command noted'}: p50 Switchyard ${sy50.toFixed(3)} ms, floor ${floor50.toFixed(3)} ms, ratio ${(sy50 / floor50).toFixed(2)}`,
  );
  if (!plain) {
    for (const side of sides) {
      const { count, rows } = typical(results[side].timelines);
      console.log(`\n${side}: the most common order (${count} of ${results[side].timelines.length}), ms from the submission (medians)`);
      for (const [ms, what] of rows) console.log(`${ms.toFixed(3).padStart(8)}  ${what}`);
    }
  }
} finally {
  await floor.close();
  await writes.close();
  await sy.close();
}
