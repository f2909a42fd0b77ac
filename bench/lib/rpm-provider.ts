/**
 * A provider in its own process: the LLM simulator (src/simulator) holding `rpm: 60 R` with a
 * bucket of one second (R requests, refilled continuously, R a second), answering 429 when a
 * request finds it empty and sending OpenAI's rate-limit headers as the real API does. It runs
 * apart from the processes under test, as a provider does: their work does not delay when it
 * sees a request arrive. Started by `startRpmProvider` over IPC; it reports the arrival time of
 * every answered request and how many it refused.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { SimExchange } from '../../src/simulator/request.js';
import { startSimulator } from '../../src/simulator/server.js';

interface Report {
  times: number[];
  refused: number;
}

export interface RpmProvider {
  openaiBaseURL: string;
  /** What it has seen so far. */
  report(): Promise<Report>;
  close(): Promise<void>;
}

type FromChild = { ready: string } | ({ report: true } & Report);

export async function startRpmProvider(R: number): Promise<RpmProvider> {
  const child = fork(fileURLToPath(import.meta.url), [String(R)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [first] = (await once(child, 'message')) as [FromChild];
  if (!('ready' in first)) throw new Error('the fake provider did not start');
  return {
    openaiBaseURL: first.ready,
    async report() {
      child.send('report');
      for (;;) {
        const [m] = (await once(child, 'message')) as [FromChild];
        if ('report' in m) return { times: m.times, refused: m.refused };
      }
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function serve(R: number): Promise<void> {
  const seen: SimExchange[] = [];
  const sim = await startSimulator({ port: 0, rpm: R * 60, bucketSeconds: 1, reply: 'ok' }, { onRequest: (ex) => seen.push(ex) });
  const report = () => ({ times: seen.filter((ex) => ex.answered).map((ex) => ex.time), refused: sim.stats().errors.rpmLimit ?? 0 });
  process.on('message', (m) => {
    if (m === 'report') process.send!({ report: true, ...report() });
  });
  process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
  process.send!({ ready: sim.openaiBaseURL });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void serve(Number(process.argv[2]));
