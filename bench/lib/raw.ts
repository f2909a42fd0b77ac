/**
 * The raw BullMQ baseline: one queue, one FlowProducer, one Worker with a trivial processor
 * (returns a small envelope like a Switchyard step does), sharing one ioredis connection like
 * Switchyard's System does. Completion is observed on the worker's `completed` event.
 */
import { performance } from 'node:perf_hooks';
import { FlowProducer, Queue, Worker, type FlowJob, type Job, type JobsOptions } from 'bullmq';
import type { DurableWrites } from './durable.js';
import { benchPrefix, cleanupPrefix, newRedis } from './redis.js';
import { RootSettlements, withTimeout } from './util.js';

export const RAW_QUEUE = 'raw';

/** Job options mirroring what Switchyard gives its step jobs. */
export const rawJobOpts = (jobId: string): JobsOptions => ({
  jobId,
  attempts: 1,
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 3600 },
  failParentOnFailure: true,
});

export interface RawBench {
  /** Add `tree` and wait until the job `rootId` completes; ms from just before add. */
  run(tree: FlowJob, rootId: string, timeoutMs?: number): Promise<{ ms: number; addMs: number }>;
  close(): Promise<void>;
}

/** With `writes`: the floor (lib/durable.ts), each step recording its attempt and its answer, each run its state before its flow is added. */
export async function startRaw(name: string, concurrency: number, writes?: DurableWrites): Promise<RawBench> {
  const prefix = benchPrefix(`raw-${name}`);
  const connection = newRedis('switchyard-bench-raw');
  const flowProducer = new FlowProducer({ connection, prefix });
  const queue = new Queue(RAW_QUEUE, { connection, prefix });
  const processor = async (job: Job) => {
    await writes?.attempt(job.id!);
    await writes?.answer(job.id!, `out ${job.name}`);
    return { stepId: job.name, status: 'succeeded' };
  };
  const worker = new Worker(RAW_QUEUE, processor, { connection, prefix, concurrency });
  worker.on('error', (err) => console.error(`raw worker error: ${err.message}`));
  await worker.waitUntilReady();

  const roots = new RootSettlements(worker, (id) => id.startsWith('root'));

  return {
    async run(tree, rootId, timeoutMs = 120_000) {
      const done = roots.wait(rootId);
      const t0 = performance.now();
      await writes?.run(rootId, 'input');
      await flowProducer.add(tree);
      const addMs = performance.now() - t0;
      const s = await withTimeout(done, timeoutMs, `raw flow ${rootId}`);
      if (s.err) throw new Error(`raw flow ${rootId} failed: ${s.err}`);
      return { ms: s.t - t0, addMs };
    },
    async close() {
      await worker.close();
      await Promise.all([flowProducer.close(), queue.close()]);
      await connection.quit().catch(() => connection.disconnect());
      await cleanupPrefix(prefix);
    },
  };
}
