/**
 * `npm run soak -- --minutes N [--kill-every S] [--rate R]`: see soak-lib.ts. Prints the
 * report and exits 1 when a check fails.
 */
import { parseArgs } from 'node:util';
import { runSoak } from './soak-lib.js';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '2' }, 'kill-every': { type: 'string', default: '60' }, rate: { type: 'string', default: '5' } },
  strict: true,
});
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 120) {
  console.error('soak: --minutes must be a number above 0, at most 120');
  process.exit(2);
}
const durationMs = minutes * 60_000;
console.log(`# Switchyard soak: ${minutes} min, a worker SIGKILLed every ${values['kill-every']} s, Redis restarted (AOF) at the half`);
const report = await runSoak({
  durationMs,
  killEveryMs: Number(values['kill-every']) * 1000,
  rate: Number(values.rate),
  redisRestartAtMs: durationMs / 2,
  retentionSeconds: 5,
  log: (m) => console.log(m),
});
console.log(JSON.stringify(report, null, 2));
console.log(report.ok ? 'soak: every check passed' : 'soak: a check FAILED');
process.exit(report.ok ? 0 : 1);
