/**
 * Profiling aids for the benchmark (used only in separate, untimed passes):
 * - a Redis command counter that wraps ioredis' Redis.prototype.sendCommand: commands by name
 *   (Lua scripts by their script name), round trips (a pipeline/MULTI counts once), and the
 *   client-observed latency of each;
 * - event-loop utilisation and process CPU over a window;
 * - a V8 CPU profile summarised by function and by package.
 */
import { Session } from 'node:inspector/promises';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { scriptNames } from './script-names.js';

const BLOCKING = new Set(['bzpopmin', 'bzpopmax', 'brpoplpush', 'blmove', 'blpop', 'brpop', 'xread', 'xreadgroup', 'subscribe', 'psubscribe']);

interface CommandLike {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
}

export interface CommandStats {
  /** Round trips: standalone commands + pipelines/transactions (each counted once). */
  roundTrips: number;
  commands: number;
  pipelines: number;
  /** name → {count, total client-observed ms}. Scripts appear as `script:<name>`; commands sent
   * inside a pipeline or MULTI are suffixed ` (in pipeline/multi)` (their latency is the batch's). */
  byName: Map<string, { count: number; ms: number }>;
}

type Patched = typeof Redis.prototype & { __benchOrigSend?: (...a: unknown[]) => unknown };

let active: CommandStats | undefined;
/** A script's name by its SHA: Switchyard's and BullMQ's (script-names.ts), else the SHA's start. */
function scriptName(_client: unknown, sha: string): string {
  return scriptNames().get(sha) ?? `sha:${sha.slice(0, 8)}`;
}

/** Install (once) the sendCommand wrapper; counting happens only between start() and stop(). */
function install(): void {
  const proto = Redis.prototype as Patched;
  if (proto.__benchOrigSend) return;
  // The original method, kept to be called with the client as `this` (orig.call below).
  // eslint-disable-next-line @typescript-eslint/unbound-method -- wrapping a prototype method: it is only ever called with .call(this, …)
  const orig = proto.sendCommand as (...a: unknown[]) => unknown;
  proto.__benchOrigSend = orig;
  const seenStreams = new WeakSet<object>();
  proto.sendCommand = function (this: Redis, command: CommandLike, stream?: object, ...rest: unknown[]) {
    const stats = active;
    if (stats && command && typeof command.name === 'string') {
      const lname = command.name.toLowerCase();
      if (!BLOCKING.has(lname)) {
        let name = lname;
        if ((lname === 'evalsha' || lname === 'eval') && typeof command.args[0] === 'string') name = `script:${scriptName(this, command.args[0])}`;
        stats.commands++;
        if (stream) name += ' (in pipeline/multi)';
        if (stream) {
          if (!seenStreams.has(stream)) {
            seenStreams.add(stream);
            stats.pipelines++;
            stats.roundTrips++;
          }
        } else stats.roundTrips++;
        const t0 = performance.now();
        const rec = stats.byName.get(name) ?? { count: 0, ms: 0 };
        stats.byName.set(name, rec);
        rec.count++;
        const p = orig.call(this, command, stream, ...rest) as Promise<unknown>;
        const end = () => {
          rec.ms += performance.now() - t0;
        };
        (p ?? command.promise)?.then?.(end, end);
        return p;
      }
    }
    return orig.call(this, command, stream, ...rest);
  };
}

export function startCommandCount(): { stop(): CommandStats } {
  install();
  const stats: CommandStats = { roundTrips: 0, commands: 0, pipelines: 0, byName: new Map() };
  active = stats;
  return {
    stop() {
      if (active === stats) active = undefined;
      return stats;
    },
  };
}

/** Top commands as markdown-ish lines, per `per` units (e.g. per step). */
export function describeCommands(stats: CommandStats, per: number, top = 12): string[] {
  const rows = [...stats.byName.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, top);
  return rows.map(([name, r]) => `${name}: ${(r.count / per).toFixed(2)}/unit, avg ${(r.ms / r.count).toFixed(2)} ms client-observed`);
}

export interface LoadSample {
  /** Event-loop utilisation 0..1 over the window. */
  elu: number;
  /** Process CPU (user+system) ms over the window. */
  cpuMs: number;
}

export function startLoadSample(): { stop(): LoadSample } {
  const e0: EventLoopUtilization = performance.eventLoopUtilization();
  const c0 = process.cpuUsage();
  return {
    stop() {
      const e = performance.eventLoopUtilization(e0);
      const c = process.cpuUsage(c0);
      return { elu: e.utilization, cpuMs: (c.user + c.system) / 1000 };
    },
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Run `fn` under the V8 sampling profiler; returns lines: top self-time functions and per-package totals. */
export async function cpuProfile(fn: () => Promise<unknown>, top = 15): Promise<string[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    let profile: { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
    try {
      await fn();
    } finally {
      // Always stop the profiler, even when fn threw (its error is thrown on after this).
      ({ profile } = (await session.post('Profiler.stop')) as { profile: typeof profile });
    }
    const totalSamples = profile.samples.length || 1;
    const wallMs = (profile.endTime - profile.startTime) / 1000;
    const byFn = new Map<string, number>();
    const byPkg = new Map<string, number>();
    for (const n of profile.nodes) {
      const hits = n.hitCount ?? 0;
      if (!hits) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const pkg = packageOf(url, functionName);
      const key = `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
      byFn.set(key, (byFn.get(key) ?? 0) + hits);
      byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + hits);
    }
    // Inclusive attribution: each sample goes to the nearest Switchyard function on its stack
    // (src/ or workers/), so e.g. pipeline construction inside RunStore.getSteps counts there.
    const parent = new Map<number, ProfileNode>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
    const bySwitchyard = new Map<string, number>();
    for (const n of profile.nodes) {
      const hits = n.hitCount ?? 0;
      if (!hits) continue;
      let cur: ProfileNode | undefined = n;
      while (cur && !/\/(src|workers)\//.test(cur.callFrame.url)) cur = parent.get(cur.id);
      const key = cur
        ? `${cur.callFrame.functionName || '(anonymous)'} ${shortUrl(cur.callFrame.url)}`
        : `(outside Switchyard code: ${packageOf(n.callFrame.url, n.callFrame.functionName)})`;
      bySwitchyard.set(key, (bySwitchyard.get(key) ?? 0) + hits);
    }
    const pct = (h: number) => `${((100 * h) / totalSamples).toFixed(1)}%`;
    return [
      `samples: ${totalSamples} over ${wallMs.toFixed(0)} ms`,
      `by package: ${[...byPkg.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([p, h]) => `${p} ${pct(h)}`)
        .join(', ')}`,
      `by nearest Switchyard frame (inclusive of synchronous callees): ${[...bySwitchyard.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([k, h]) => `${k} ${pct(h)}`)
        .join('; ')}`,
      'top self time:',
      ...[...byFn.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([f, h]) => `${pct(h)}  ${f}`),
    ];
  } finally {
    session.disconnect();
  }
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('node_modules/');
  if (i >= 0) return url.slice(i + 'node_modules/'.length);
  const m = url.match(/\/(src|workers|bench)\/.*$/);
  return m ? m[0].slice(1) : url.replace(/^node:/, 'node:');
}

function packageOf(url: string, fn: string): string {
  if (!url) return fn === '(garbage collector)' ? 'gc' : fn === '(idle)' ? 'idle' : fn === '(program)' ? 'program' : 'native';
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1]!;
  if (/\/src\//.test(url)) return 'switchyard src';
  if (/\/workers\//.test(url)) return 'switchyard workers';
  if (/\/bench\//.test(url)) return 'bench';
  if (url.startsWith('node:')) return 'node core';
  return 'other';
}
