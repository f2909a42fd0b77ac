/**
 * The HTTP baseline of scenario (f), run as its own process: a minimal express server whose
 * `POST /jobs` adds the JSON body as a BullMQ job (`queue.add`) and answers 202 with its id.
 * Env: REDIS_URL, BENCH_PREFIX, PORT. Prints `listening <port>` once it accepts connections.
 */
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null, connectionName: 'switchyard-bench-raw-http' });
const queue = new Queue('raw', { connection, prefix: process.env.BENCH_PREFIX ?? '{bench-raw-http}' });
const app = express();
app.use(express.json({ limit: '100kb' }));
app.post('/jobs', (req, res, next) => {
  queue
    .add('task', req.body, { attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } })
    .then((job) => res.status(202).json({ id: job.id }), next);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => {
  server.close();
  void queue
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});
