import { performance } from 'node:perf_hooks';
import { startSwitchyard, echoAgent } from './lib/switchyard.js';
import { cpuProfile } from './lib/profile.js';
const sy = await startSwitchyard({ name: 'ps', agents: { one: echoAgent(0, 8) }, workflows: [], pools: { agents: [] } });
const store = sy.system.api.store;
const t: number[] = [];
const oc = store.createRunWithJob.bind(store); store.createRunWithJob = async (...a) => { const s = performance.now(); const r = await oc(...a); t.push(performance.now() - s); return r; };
const tot: number[] = [];
const med = (xs: number[]) => [...xs].slice(100).sort((a, b) => a - b)[(xs.length - 100) >> 1]!.toFixed(3);
for (let i = 0; i < 400; i++) { const s = performance.now(); await sy.system.runs.submitAgentTask('one', { task: `t${i}` }); tot.push(performance.now() - s); }
console.log('total', med(tot), 'createRunWithJob', med(t));
const prof = await cpuProfile(async () => { for (let i = 0; i < 300; i++) await sy.system.runs.submitAgentTask('one', { task: `p${i}` }); });
console.log(prof.join('\n'));
await sy.close();
