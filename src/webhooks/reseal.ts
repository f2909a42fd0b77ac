/**
 * Webhook secrets resealed under the current SWITCHYARD_SECRETS_KEY (`npm run secrets --
 * reencrypt`, after the key rotated, the old one in SWITCHYARD_SECRETS_OLD_KEYS): every
 * subscription and every run's own webhook (not yet expired) of the cell's workspaces that
 * have one with a secret, each bound to the same `webhook:<workspace>/<id>` as when it was made,
 * so deliveries go on being signed with the same secret. A webhook whose secret changed or that
 * was deleted meanwhile is left as it is (`skipped`: run it again).
 */
import type { Keyring } from '../agents/keyring.js';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';
import type { WebhookRecord, WebhookRecords } from '../store/webhook-records.js';
import { sealContext } from './webhooks.js';

/** What resealing did: as the agents' and the workspace secrets' `reencrypt` report it. */
export interface ResealCounts {
  resealed: number;
  current: number;
  skipped: number;
  /** The contexts (`webhook:<workspace>/<id>`) of the secrets no configured key opens, with why. */
  failed: string[];
}

export async function reencryptWebhooks(deps: { records: WebhookRecords; keyring: Keyring }, cell: Cell): Promise<ResealCounts> {
  const { keyring, records } = deps;
  const out: ResealCounts = { resealed: 0, current: 0, skipped: 0, failed: [] };
  const reseal = async (scope: Scope, record: WebhookRecord & { sealed: string }) => {
    if (!keyring.isStale(record.sealed)) return void out.current++;
    const context = sealContext(scope, record.id);
    let plain: string;
    try {
      plain = keyring.open(record.sealed, context);
    } catch (err) {
      return void out.failed.push(`${context}: ${(err as Error).message}`);
    }
    const next = { ...record, sealed: keyring.seal(plain, context, 'secret') };
    if (await records.swap(scope, record.sealed, next)) out.resealed++;
    else out.skipped++;
  };
  const each = async (scope: Scope, batch: readonly (WebhookRecord | undefined)[]) => {
    for (const record of batch) if (record?.sealed !== undefined) await reseal(scope, { ...record, sealed: record.sealed });
  };
  for (const workspace of await records.workspaces(cell)) {
    const scope = scopeOf(cell, workspace);
    await each(scope, await records.list(scope));
    // Runs' own webhooks (one per run, a week of them): read BATCH at once.
    const runIds = await records.sealedRunWebhooks(scope);
    for (let i = 0; i < runIds.length; i += BATCH)
      await each(scope, await Promise.all(runIds.slice(i, i + BATCH).map((runId) => records.get(scope, `run-${runId}`))));
  }
  return out;
}

/** Runs' own webhooks read at once. */
const BATCH = 200;
