/**
 * Webhook secrets resealed under the current SWITCHYARD_SECRETS_KEY (`npm run secrets --
 * reencrypt`, after the key rotated, the old one in SWITCHYARD_SECRETS_OLD_KEYS): every
 * subscription and every run's own webhook (not yet expired) of the cell's workspaces that
 * have one with a secret, each bound to the same `webhook:<workspace>/<id>` as when it was made,
 * so deliveries go on being signed with the same secret. A webhook whose secret changed or that
 * was deleted meanwhile is left as it is (`skipped`: run it again).
 */
import { noneResealed, type Keyring, type ResealCounts } from '../agents/keyring.js';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';
import type { WebhookRecord, WebhookRecords } from '../store/webhook-records.js';
import { sealContext } from './webhooks.js';

export async function reencryptWebhooks(deps: { records: WebhookRecords; keyring: Keyring }, cell: Cell): Promise<ResealCounts> {
  const { keyring, records } = deps;
  const out = noneResealed();
  const each = async (scope: Scope, batch: readonly (WebhookRecord | undefined)[]) => {
    for (const record of batch) {
      const was = record?.sealed;
      if (record && was !== undefined)
        await keyring.reseal(out, was, sealContext(scope, record.id), (sealed) => records.swap(scope, was, { ...record, sealed }));
    }
  };
  for (const workspace of await records.workspaces(cell)) {
    const scope = scopeOf(cell, workspace);
    await each(scope, await records.list(scope));
    // Runs' own webhooks (one per run, a week of them): BATCH ids at a time, each batch's read at once.
    for (let cursor: string | undefined = '0'; cursor !== undefined;) {
      const page = await records.sealedRunWebhooks(scope, cursor, BATCH);
      await each(scope, await Promise.all(page.runIds.map((runId) => records.get(scope, `run-${runId}`))));
      cursor = page.next;
    }
  }
  return out;
}

/** Runs' own webhooks read at once. */
const BATCH = 200;
