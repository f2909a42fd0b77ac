/**
 * The floor of a durable step on unforked BullMQ (see docs/adr/005): raw BullMQ plus the same
 * awaited writes Switchyard's guarantees need, as plain `HSET`s on a connection of their own:
 * the run's state before its job is added, the attempt before the work, the answer before the
 * job completes. Scenarios (b), (d), (e) and (m) measure against it beside plain raw BullMQ.
 */
import { benchPrefix, cleanupPrefix, newRedis } from './redis.js';

export class DurableWrites {
  private readonly redis;
  private readonly prefix: string;

  constructor(private readonly url?: string) {
    this.redis = newRedis('switchyard-bench-writes', url);
    this.prefix = benchPrefix('floor-w');
  }

  /** The run recorded, before its job is added. */
  async run(id: string, input: string): Promise<void> {
    await this.redis.hset(`${this.prefix}:r:${id}`, 'status', 'queued', 'input', input, 'createdAt', new Date().toISOString());
  }

  /** The attempt recorded, before the work. */
  async attempt(id: string): Promise<void> {
    await this.redis.hset(`${this.prefix}:s:${id}`, 'status', 'running', 'attempt', '1', 'startedAt', new Date().toISOString());
  }

  /** The answer recorded, before the job completes. */
  async answer(id: string, output: string): Promise<void> {
    await this.redis.hset(`${this.prefix}:s:${id}`, 'status', 'succeeded', 'output', output, 'finishedAt', new Date().toISOString());
  }

  /** A raw processor with the two writes of a step around its (trivial) work; `work` runs between them. */
  processor(work: (job: { id?: string; data: unknown }) => void = () => undefined) {
    return async (job: { id?: string; data: unknown }) => {
      await this.attempt(job.id!);
      work(job);
      await this.answer(job.id!, 'ok');
      return { status: 'succeeded' };
    };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
    await cleanupPrefix(this.prefix, this.url);
  }
}
