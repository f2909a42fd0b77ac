import { performance } from 'node:perf_hooks';
import { startSwitchyard, echoAgent } from './lib/switchyard.js';
const sy = await startSwitchyard({ name: 'ps', agents: { one: echoAgent(0, 8) }, workflows: [], pools: { agents: [] } });
const store = sy.system.api.store; const fp = sy.system.api.flowProducer;
const t: Record<string, number[]> = { create: [], add: [] };
const oc = store.createRun.bind(store); store.createRun = async (...a) => { const s = performance.now(); await oc(...a); t.create!.push(performance.now() - s); };
const oa = fp.add.bind(fp); fp.add = (async (...a: Parameters<typeof fp.add>) => { const s = performance.now(); const r = await oa(...a); t.add!.push(performance.now() - s); return r; }) as typeof fp.add;
const tot: number[] = [];
for (let i = 0; i < 400; i++) { const s = performance.now(); await sy.system.runs.submitAgentTask('one', { task: `t${i}` }); tot.push(performance.now() - s); }
const med = (xs: number[]) => xs.slice(100).sort((a, b) => a - b)[(xs.length - 100) >> 1]!.toFixed(3);
console.log('total', med(tot), 'create', med(t.create!), 'add', med(t.add!));
const q = sy.system.api.queues.get('agent.one')!;
const qa: number[] = [];
for (let i = 0; i < 400; i++) { const s = performance.now(); await q.add('x', { a: i }, { jobId: `q${i}` }); qa.push(performance.now() - s); }
console.log('queue.add', med(qa));
const pr: number[] = [];
for (let i = 0; i < 400; i++) { const s = performance.now(); await sy.system.api.redis.ping(); pr.push(performance.now() - s); }
console.log('ping', med(pr));
await sy.close();
