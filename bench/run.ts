/**
 * Switchyard benchmark: each scenario against raw BullMQ measured in the same run (absolute
 * times drift on a shared machine, so the figures that matter are ratios).
 *
 *   npm run bench                      all scenarios, full sizes
 *   npm run bench -- --only b          one scenario (a to m; comma-separated for several)
 *   npm run bench -- --quick           smaller sizes (DAG 15 steps / 4 levels, chain 50, fan-out 200)
 *   npm run bench -- --reps 9          measured repetitions (default 5)
 *   npm run bench -- --warmup 1        unmeasured rounds first (default 3: JIT, Redis memory)
 *   npm run bench -- --profile         always run the profiling passes (otherwise only on a miss)
 *   npm run bench -- --report-only     exit 0 even when a target is missed (by default: exit 1)
 *
 * Prints one markdown table and writes it, with the environment and per-scenario details, to
 * bench/results/latest.md, and the figures to bench/results/<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { leftoverKeys, redisServerInfo, REDIS_URL } from './lib/redis.js';
import { chainScenario } from './scenarios/chain.js';
import { dagScenario } from './scenarios/dag.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { singleScenario } from './scenarios/single.js';
import { dispatchScenario } from './scenarios/dispatch.js';
import { httpScenario } from './scenarios/http.js';
import { memoryScenario } from './scenarios/memory.js';
import { bigFanScenario } from './scenarios/bigfan.js';
import { orchestratorScenario } from './scenarios/orchestrator.js';
import { loopScenario } from './scenarios/loop.js';
import { rpmScenario, tpmScenario } from './scenarios/limits.js';
import { redisCpuScenario } from './scenarios/redis-cpu.js';
import type { BenchContext, Scenario, ScenarioResult } from './scenarios/types.js';
import { fmt } from './lib/util.js';
import { leakedConnections } from './lib/switchyard.js';

const SCENARIOS: Scenario[] = [
  dagScenario,
  chainScenario,
  fanoutScenario,
  singleScenario,
  dispatchScenario,
  httpScenario,
  memoryScenario,
  bigFanScenario,
  orchestratorScenario,
  loopScenario,
  rpmScenario,
  tpmScenario,
  redisCpuScenario,
];

interface Args {
  only: Set<string> | undefined;
  quick: boolean;
  reps: number;
  warmup: number;
  profile: boolean;
  /** Exit 1 when a target is missed (the default; --report-only turns it off). */
  strict: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: undefined, quick: false, reps: 5, warmup: 3, profile: false, strict: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--only': {
        const ids = value()
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean);
        const known = new Set(SCENARIOS.map((s) => s.id));
        for (const id of ids) if (!known.has(id)) throw new Error(`--only: unknown scenario "${id}" (known: ${[...known].join(', ')})`);
        args.only = new Set(ids);
        break;
      }
      case '--quick':
        args.quick = true;
        break;
      case '--reps': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error('--reps must be a positive integer');
        args.reps = n;
        break;
      }
      case '--warmup': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0) throw new Error('--warmup must be a non-negative integer');
        args.warmup = n;
        break;
      }
      case '--profile':
        args.profile = true;
        break;
      case '--strict':
        args.strict = true;
        break;
      case '--report-only':
        args.strict = false;
        break;
      case '--help':
      case '-h':
        console.log('usage: npm run bench -- [--only a,b,c] [--quick] [--reps N] [--warmup N] [--profile] [--report-only]');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument "${a}" (try --help)`);
    }
  }
  return args;
}

function table(rows: ScenarioResult[]): string {
  const head =
    '| scenario | Switchyard | baseline (same run) | ratio | ratio without submission | floor: raw + the awaited writes (same run) | ratio ÷ floor | target | pass/fail |\n|---|---|---|---|---|---|---|---|---|';
  const ratio = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? fmt(x, 2) : '—');
  const body = rows.map(
    (r) =>
      `| (${r.id}) ${r.title} | ${r.switchyard} | ${r.baseline} | ${r.ratioText ?? ratio(r.ratio)} | ${ratio(r.ratioAfterSubmit)} | ${r.floor?.baseline ?? '—'} | ${r.floor ? (r.floor.ratioText ?? ratio(r.floor.ratio)) : '—'} | ${r.target} | ${r.pass ? 'pass' : '**fail**'} |`,
  );
  return [head, ...body].join('\n');
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const require = createRequire(import.meta.url);
  const bullmqVersion = (require('bullmq/package.json') as { version: string }).version;
  const ioredisVersion = (require('ioredis/package.json') as { version: string }).version;
  const redis = await redisServerInfo();
  const env = [
    `- date: ${new Date().toISOString()}`,
    `- node ${process.version} (${process.platform}/${process.arch}), bullmq ${bullmqVersion}, ioredis ${ioredisVersion}`,
    `- Redis ${redis.version} (${redis.mode}) at ${REDIS_URL.replace(/\/\/[^@]*@/, '//***@')}`,
    `- CPU: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'}), load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `- mode: ${args.quick ? 'quick' : 'full'} sizes, ${args.reps} measured repetitions after ${args.warmup} warm-up round(s) (median reported)${args.only ? `, only ${[...args.only].join(',')}` : ''}`,
  ];
  console.log('# Switchyard benchmark\n');
  console.log(env.join('\n'));
  console.log('');

  const ctx: BenchContext = { quick: args.quick, reps: args.reps, warmup: args.warmup, profile: args.profile, log: (m) => console.log(m) };
  const results: ScenarioResult[] = [];
  let errors = 0;
  for (const s of SCENARIOS) {
    if (args.only && !args.only.has(s.id)) continue;
    console.log(`## (${s.id}) ${s.title}`);
    const t0 = Date.now();
    try {
      const r = await s.run(ctx);
      results.push(r);
      const floor = r.floor ? `, ÷ floor ${fmt(r.floor.ratio, 2)}` : '';
      console.log(`  → ratio ${fmt(r.ratio, 2)}${floor} (target ${r.target}): ${r.pass ? 'pass' : 'FAIL'} [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
      for (const d of r.details) console.log(`    ${d}`);
    } catch (err) {
      errors++;
      const msg = (err as Error).stack ?? String(err);
      console.error(`  scenario ${s.id} crashed: ${msg}`);
      results.push({
        id: s.id,
        title: s.title,
        switchyard: 'error',
        baseline: 'error',
        ratio: Number.NaN,
        target: '',
        pass: false,
        details: [`error: ${(err as Error).message}`],
      });
    }
    console.log('');
  }

  const leftover = await leftoverKeys();
  const md = [
    '# Switchyard benchmark',
    '',
    ...env,
    '',
    table(results),
    '',
    ...results.flatMap((r) => [`## (${r.id}) ${r.title}`, '', ...r.details.map((d) => (d.startsWith('  ') ? `    ${d.trim()}` : `- ${d}`)), '']),
    `Cleanup: ${leftover} keys left under this run's prefixes; ${leakedConnections} Redis connection(s) left open by Switchyard closed by the bench (it should read 0).`,
    '',
  ].join('\n');

  console.log(table(results));
  console.log('');
  console.log(
    `cleanup: ${leftover} keys left under this run's prefixes; ${leakedConnections} Redis connection(s) left open by Switchyard were closed by the bench`,
  );
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'latest.md');
  writeFileSync(out, md);
  const json = join(dir, `${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(
    json,
    `${JSON.stringify({ environment: env.map((l) => l.replace(/^- /, '')), results: results.map(({ details: _d, ...r }) => r), leftoverKeys: leftover }, null, 2)}\n`,
  );
  console.log(`written to ${out} and ${json}`);

  // Everything was closed; anything still holding the loop open is a leak worth naming.
  await new Promise((r) => setTimeout(r, 200));
  const handles = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'Timeout');
  if (handles.length > 0) console.warn(`note: resources still open at exit: ${handles.join(', ')}`);
  process.exitCode = errors > 0 || leftover > 0 || (args.strict && results.some((r) => !r.pass)) ? 1 : 0;
}

main().catch((err) => {
  console.error((err as Error).stack ?? err);
  process.exit(1);
});
