import { performance } from 'node:perf_hooks';
import { startSwitchyard } from './lib/switchyard.js';
import type { Provider } from '../src/providers/provider.js';
let called: ((t: number) => void) | undefined;
const noting: Provider = { name: 'echo', async complete() { called?.(performance.now()); return { text: 'ok', usage: { inputTokens: 1, outputTokens: 1 }, model: 'x' }; } };
const sy = await startSwitchyard({ name: 'pd', agents: { one: { provider: 'echo', concurrency: 8, attempts: 1 } }, workflows: [], providerFor: () => noting });
const w = sy.pools.workers.find((x) => x.name === 'agent.one')!;
let active: ((t: number) => void) | undefined;
w.on('active', () => active?.(performance.now()));
const rows: number[][] = [];
for (let i = 0; i < 300; i++) {
  const pa = new Promise<number>((r) => (active = r));
  const pc = new Promise<number>((r) => (called = r));
  const t0 = performance.now();
  const { id } = await sy.system.runs.submitAgentTask('one', { task: `t${i}` });
  const t1 = performance.now();
  const ta = await pa; const tc = await pc;
  await sy.finished(id);
  if (i >= 50) rows.push([t1 - t0, ta - t1, tc - ta]);
}
const med = (k: number) => rows.map((r) => r[k]!).sort((a, b) => a - b)[rows.length >> 1]!.toFixed(3);
console.log('submit', med(0), 'submit→active', med(1), 'active→provider', med(2));
await sy.close();
import { cpuProfile } from './lib/profile.js';
const sy2 = await startSwitchyard({ name: 'pd2', agents: { one: { provider: 'echo', concurrency: 8, attempts: 1 } }, workflows: [], providerFor: () => noting });
const prof = await cpuProfile(async () => { for (let i = 0; i < 300; i++) { const { id } = await sy2.system.runs.submitAgentTask('one', { task: `p${i}` }); await sy2.finished(id); } }, 30);
console.log(prof.join('\n'));
await sy2.close();
