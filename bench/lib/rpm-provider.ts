/**
 * A fake provider in its own process, holding R requests a second as providers do (a bucket of
 * R requests refilled continuously, R a second) and answering 429 when a request finds it
 * empty. It runs apart from the processes under test, as a provider does: their work does not
 * delay when it sees a request arrive. Started by `startRpmProvider` over IPC; it reports the
 * arrival time of every answered request and how many it refused.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startFakeLlmServer, type RecordedRequest } from '../../test/fixtures/fake-llm-server.js';

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
  const fake = await startFakeLlmServer();
  const times: number[] = [];
  let refused = 0;
  let bucket = R;
  let filledAt = Date.now();
  fake.respondWith((req: RecordedRequest) => {
    bucket = Math.min(R, bucket + ((req.time - filledAt) * R) / 1000);
    filledAt = req.time;
    if (bucket < 1) {
      refused++;
      return { status: 429, headers: { 'retry-after-ms': '200' } };
    }
    bucket -= 1;
    times.push(req.time);
    return { text: 'ok' };
  });
  process.on('message', (m) => {
    if (m === 'report') process.send!({ report: true, times, refused });
  });
  process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
  process.send!({ ready: fake.openaiBaseURL });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void serve(Number(process.argv[2]));
