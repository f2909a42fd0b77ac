/**
 * The shared limiter's pauses from a shell (a small entry point; a full CLI comes later):
 *
 *   npm run limits -- list             the scopes paused now (JSON, as GET /v1/limits)
 *   npm run limits -- resume <scope>   lift a scope's pause (as POST /v1/limits/:scope/resume)
 *
 * It reads the same environment and agents file as the server (REDIS_URL, SWITCHYARD_PREFIX,
 * SWITCHYARD_AGENTS). Exit code 0 when done, 1 when the scope is not paused, 2 on bad usage or
 * configuration.
 */
import { Queue } from 'bullmq';
import { loadAgentsFile } from '../agents/registry.js';
import { LimitScopeParam } from '../api/schemas.js';
import { loadConfig } from '../config/env.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { silentLogger } from '../logger.js';
import { RunStore } from '../store/run-store.js';
import { connectRedis, redisTarget } from '../store/connection.js';
import { CellMap } from '../store/cells.js';
import { LimitsAdmin } from '../calls/admission/admin.js';

const USAGE = 'usage: npm run limits -- list | npm run limits -- resume <scope>   (scope as `list` names it, e.g. openai/gpt-4o)';

async function main(args: string[]): Promise<number> {
  const [command, scope, ...rest] = args;
  if (!(command === 'list' && scope === undefined) && !(command === 'resume' && scope !== undefined && rest.length === 0)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'resume' && !LimitScopeParam.safeParse(scope).success) {
    process.stderr.write(`"${scope}" is not a limiter scope: ${LimitScopeParam.safeParse(scope).error?.issues[0]?.message}\n`);
    return 2;
  }
  const config = loadConfig();
  const registry = loadAgentsFile(config.agentsFile, config);
  const redis = connectRedis(redisTarget(config), { maxRetriesPerRequest: 1, connectionName: 'switchyard-limits-cli' });
  const queues = new Map<string, Queue>();
  const store = new RunStore({ redis, retentionSeconds: config.retentionSeconds, outbox: false, logger: silentLogger });
  // Every cell's queues: a resume lifts them all and wakes their waiting steps.
  const cells = new CellMap({ prefix: config.prefix, count: config.cells.count }).cells.map(({ tag }) => ({
    tag,
    queue: (name: string) =>
      queues.get(`${tag}${name}`) ?? queues.set(`${tag}${name}`, new Queue(name, { connection: redis, prefix: tag })).get(`${tag}${name}`),
    store,
  }));
  const admin = new LimitsAdmin({ redis, prefix: config.prefix, registry, cells: () => cells, logger: silentLogger });
  try {
    const out = command === 'list' ? { paused: await admin.paused() } : { resumed: true, ...(await admin.resume(scope!)) };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  } finally {
    await Promise.all([...queues.values()].map((q) => q.close()));
    await redis.quit();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof ValidationError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exitCode = 2;
}
