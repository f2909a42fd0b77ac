/**
 * Switchyard against raw BullMQ on the same shape of work (scenarios b and c): both started
 * side by side, measured in interleaved rounds, and, when the ratio misses its target (or with
 * --profile), profiled: Redis commands per unit, an instant-provider run (no echo timer) and a
 * CPU profile of each side.
 */
import type { FlowJob } from 'bullmq';
import type { BenchContext } from '../scenarios/types.js';
import { loadLine, sampled } from './measure.js';
import { cpuProfile, describeCommands, startCommandCount } from './profile.js';
import { DurableWrites } from './durable.js';
import { startRaw } from './raw.js';
import { newRedis } from './redis.js';
import { instantProvider, startSwitchyard } from './switchyard.js';
import { fmt, interleaved, median } from './util.js';

export interface RawComparison {
  /** Names the prefixes (`sy-<name>`, `raw-<name>`, `sy-<name>-instant`). */
  name: string;
  agents: Record<string, Record<string, unknown>>;
  workflow: { name: string } & Record<string, unknown>;
  /** The raw worker's concurrency (the same as the Switchyard agent's). */
  concurrency: number;
  /** The raw flow of one run; `tag` is unique per run. */
  rawTree(tag: string): { tree: FlowJob; rootId: string };
  timeoutMs: number;
  /** Units of work per run (steps, children) and their name. */
  n: number;
  unit: string;
  /** The `sizes:` detail line (without the prefix). */
  sizes: string;
  /** Decimals of the per-run totals. */
  totalsDigits: number;
  /** Add the workflow's compile time to the Switchyard totals line. */
  showCompile?: boolean;
  /** The scenario's figure from a run's median total ms (e.g. ms per step, children per second). */
  figure(medianMs: number): number;
  /** A figure with its unit, e.g. `0.512 ms/step`. */
  formatFigure(figure: number): string;
  /** Also measure the floor (raw + the awaited writes of durability, lib/durable.ts); `meetsTarget` then judges the ratio against it. */
  floor?: boolean;
  /** Whether the ratio the target is judged on (against the floor when there is one, else raw) meets it; profiling runs when it does not. */
  meetsTarget(ratio: number): boolean;
}

export interface ComparisonResult {
  syFigure: number;
  rawFigure: number;
  /** syFigure ÷ rawFigure (submission included: add to the end of the run). */
  ratio: number;
  /** The same figures timed from the end of submission (execution alone). */
  afterSubmit: { syFigure: number; rawFigure: number; ratio: number };
  /** Against the floor, when measured: its figure and Switchyard's ratio to it. */
  floor?: { figure: number; ratio: number; afterSubmitRatio: number };
  details: string[];
}

export async function compareWithRaw(ctx: BenchContext, spec: RawComparison): Promise<ComparisonResult> {
  const { n, unit, timeoutMs } = spec;
  const wf = spec.workflow.name;
  const sy = await startSwitchyard({ name: spec.name, agents: spec.agents, workflows: [spec.workflow] });
  const raw = await startRaw(spec.name, spec.concurrency);
  const writes = spec.floor ? new DurableWrites() : undefined;
  const floor = writes ? await startRaw(`${spec.name}-floor`, spec.concurrency, writes) : undefined;
  const info = newRedis('switchyard-bench-info');
  let seq = 0;
  const rawOnce = () => {
    const { tree, rootId } = spec.rawTree(`r${seq++}`);
    return raw.run(tree, rootId);
  };
  const floorOnce = () => {
    const { tree, rootId } = spec.rawTree(`f${seq++}`);
    return floor!.run(tree, rootId);
  };
  try {
    const res = await interleaved(
      ctx,
      () => sampled(info, (mark) => sy.run(wf, {}, timeoutMs, mark)),
      () => sampled(info, rawOnce),
      floor ? () => sampled(info, floorOnce) : undefined,
    );
    const syMs = res.sw.map((s) => s.value.ms);
    const rawMs = res.raw.map((s) => s.value.ms);
    const syFigure = spec.figure(median(syMs));
    const rawFigure = spec.figure(median(rawMs));
    const ratio = syFigure / rawFigure;
    const syExec = spec.figure(median(res.sw.map((s) => s.value.ms - s.value.submitMs)));
    const rawExec = spec.figure(median(res.raw.map((s) => s.value.ms - s.value.addMs)));
    const afterSubmit = { syFigure: syExec, rawFigure: rawExec, ratio: syExec / rawExec };
    const floorMs = res.floor.map((s) => s.value.ms);
    const floorFigure = spec.figure(median(floorMs));
    const floorExec = spec.figure(median(res.floor.map((s) => s.value.ms - s.value.addMs)));
    const against = floor ? { figure: floorFigure, ratio: syFigure / floorFigure, afterSubmitRatio: syExec / floorExec } : undefined;
    const compile = spec.showCompile ? `; compile (once, at start-up) ${fmt(sy.compileMs.get(wf)!, 1)} ms` : '';
    const details = [
      `sizes: ${spec.sizes}`,
      `Switchyard totals (ms): ${syMs.map((x) => x.toFixed(spec.totalsDigits)).join(', ')}; submit (createRun + add) median ${fmt(median(res.sw.map((s) => s.value.submitMs)), 1)} ms${compile}`,
      `raw totals (ms): ${rawMs.map((x) => x.toFixed(spec.totalsDigits)).join(', ')}; FlowProducer.add median ${fmt(median(res.raw.map((s) => s.value.addMs)), 1)} ms`,
      loadLine('Switchyard load', res.sw, { n, unit }),
      loadLine('raw load', res.raw, { n, unit }),
      `without submission (timed from the end of submit / FlowProducer.add): Switchyard ${spec.formatFigure(syExec)}, raw ${spec.formatFigure(rawExec)}, ratio ${fmt(afterSubmit.ratio, 2)}`,
      ...(against
        ? [
            `floor (raw + the awaited writes) totals (ms): ${floorMs.map((x) => x.toFixed(spec.totalsDigits)).join(', ')}`,
            loadLine('floor load', res.floor, { n, unit }),
            `against the floor: Switchyard ${spec.formatFigure(syFigure)}, floor ${spec.formatFigure(floorFigure)}, ratio ${fmt(against.ratio, 2)} (without submission ${fmt(against.afterSubmitRatio, 2)}); floor ÷ raw ${fmt(floorFigure / rawFigure, 2)}`,
          ]
        : []),
    ];

    if (!spec.meetsTarget(against?.ratio ?? ratio) || ctx.profile) {
      ctx.log('  profiling');
      const c1 = startCommandCount();
      await sy.run(wf, {}, timeoutMs, () => c1.stop());
      const syStats = c1.stop();
      const c2 = startCommandCount();
      await rawOnce();
      const rawStats = c2.stop();
      details.push(
        `round trips per ${unit}: Switchyard ${fmt(syStats.roundTrips / n, 2)} (${fmt(syStats.commands / n, 2)} commands), raw ${fmt(rawStats.roundTrips / n, 2)} (${fmt(rawStats.commands / n, 2)} commands)`,
        `Switchyard commands per ${unit}:`,
        ...describeCommands(syStats, n).map((l) => `  ${l}`),
        `raw commands per ${unit}:`,
        ...describeCommands(rawStats, n, 6).map((l) => `  ${l}`),
      );
      // Same engine, provider answering without a timer: isolates echo's setTimeout(0).
      const inst = await startSwitchyard({ name: `${spec.name}-instant`, agents: spec.agents, workflows: [spec.workflow], providerFor: () => instantProvider });
      try {
        await inst.run(wf, {}, timeoutMs);
        const t: number[] = [];
        for (let i = 0; i < ctx.reps; i++) t.push((await inst.run(wf, {}, timeoutMs)).ms);
        const f = spec.figure(median(t));
        details.push(`Switchyard with an instant provider (no echo timer): ${spec.formatFigure(f)} → ratio ${fmt(f / rawFigure, 2)}`);
      } finally {
        await inst.close();
      }
      const prof = await cpuProfile(() => sy.run(wf, {}, timeoutMs));
      details.push('cpu profile of one Switchyard run:', ...prof.map((l) => `  ${l}`));
      const rprof = await cpuProfile(rawOnce);
      details.push('cpu profile of one raw run:', ...rprof.slice(0, 8).map((l) => `  ${l}`));
    }
    return { syFigure, rawFigure, ratio, afterSubmit, ...(against ? { floor: against } : {}), details };
  } finally {
    await info.quit().catch(() => info.disconnect());
    await raw.close();
    await floor?.close();
    await writes?.close();
    await sy.close();
  }
}
