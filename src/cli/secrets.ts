/**
 * The sealed values (workspace agents' provider keys, workspaces' secrets, webhooks' secrets)
 * from a shell:
 *
 *   npm run secrets -- reencrypt   reseal every value sealed under an older SWITCHYARD_SECRETS_KEY
 *                                  under the current one (JSON counts, all kinds summed, on stdout)
 *
 * Rotation without downtime: set the new key as SWITCHYARD_SECRETS_KEY and the old one in
 * SWITCHYARD_SECRETS_OLD_KEYS on every process (both open every value), run this, then drop the
 * old key. It reads the same environment and agents file as the server. Exit code 0 when every
 * key is under the current one, 1 when some could not be opened or changed meanwhile (run it
 * again), 2 on bad usage or configuration.
 */
import { loadAgentsFile } from '../agents/registry.js';
import { Keyring } from '../agents/keyring.js';
import { WorkspaceAgents } from '../agents/workspace-agents.js';
import { WorkspaceSecrets } from '../agents/workspace-secrets.js';
import { loadConfig } from '../config/env.js';
import { ValidationError } from '../errors/index.js';
import { AgentRecords } from '../store/agent-records.js';
import { CellMap } from '../store/cells.js';
import { SecretRecords } from '../store/secret-records.js';
import { connectRedis, redisTarget } from '../store/connection.js';
import { WebhookRecords } from '../store/webhook-records.js';
import { reencryptWebhooks } from '../webhooks/reseal.js';

const USAGE = 'usage: npm run secrets -- reencrypt';

async function main(args: string[]): Promise<number> {
  if (args.length !== 1 || args[0] !== 'reencrypt') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const keyring = new Keyring(config.secrets);
  if (!keyring.canSeal) {
    process.stderr.write('SWITCHYARD_SECRETS_KEY is not set: there is no key to reseal under\n');
    return 2;
  }
  const shared = loadAgentsFile(config.agentsFile, config);
  const redis = connectRedis(redisTarget(config), { maxRetriesPerRequest: 1, connectionName: 'switchyard-secrets-cli' });
  try {
    const agents = new WorkspaceAgents({ records: new AgentRecords(redis), shared, keyring, config });
    const cells = new CellMap({ prefix: config.prefix, count: config.cells.count });
    const secrets = new WorkspaceSecrets({ records: new SecretRecords(redis), keyring, scope: (ws) => cells.scopeOf(ws) });
    const webhooks = { records: new WebhookRecords(redis), keyring };
    // Every cell's workspace agents, secrets and webhooks, summed.
    const out = { resealed: 0, current: 0, skipped: 0, failed: [] as string[] };
    for (const cell of cells.cells) {
      for (const one of [await agents.reencrypt(cell), await secrets.reencrypt(cell), await reencryptWebhooks(webhooks, cell)]) {
        out.resealed += one.resealed;
        out.current += one.current;
        out.skipped += one.skipped;
        out.failed.push(...one.failed);
      }
    }
    process.stdout.write(`${JSON.stringify({ keyId: keyring.currentId, ...out }, null, 2)}\n`);
    return out.failed.length || out.skipped ? 1 : 0;
  } finally {
    await redis.quit();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof ValidationError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exitCode = 2;
}
