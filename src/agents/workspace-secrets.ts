/**
 * A workspace's secrets: set over the API (PUT/GET/DELETE /v1/workspaces/:id/secrets), sealed
 * with the Keyring as agents' provider keys are (bound to `secret:<workspace>/<name>`, so a
 * sealed value copied elsewhere does not open), stored under the workspace's scope
 * (src/store/secret-records.ts), and opened one at a time for a tool call (`lookup`, the
 * tools' SecretLookup). A value is never shown again, logged, or put in an error.
 */
import type { SecretEntry } from '../model/workspace-secret.js';
import type { SecretRecords } from '../store/secret-records.js';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';
import { NoSecretsKeyError, SealedValueError, noneResealed, type Keyring, type ResealCounts } from './keyring.js';

export interface WorkspaceSecretsDeps {
  records: SecretRecords;
  keyring: Keyring;
  /** The scope of a workspace id, in its cell. */
  scope: (workspace: string) => Scope;
}

/** A stored secret that does not open (its key is gone, or it was altered): named, never shown. */
export class UnreadableSecretError extends SealedValueError {}

const sealContext = (scope: Scope, name: string) => `secret:${scope.workspace}/${name}`;

export class WorkspaceSecrets {
  constructor(private readonly deps: WorkspaceSecretsDeps) {}

  /** Seal and keep `value` as the workspace's secret `name`; NoSecretsKeyError (a 422) without SWITCHYARD_SECRETS_KEY. */
  async set(scope: Scope, name: string, value: string): Promise<{ entry: SecretEntry; created: boolean }> {
    const { keyring, records } = this.deps;
    if (!keyring.canSeal) {
      const message = 'SWITCHYARD_SECRETS_KEY is not set on this server: a secret cannot be stored (it is never stored in clear)';
      throw new NoSecretsKeyError(message, [{ path: 'value', message }]);
    }
    const updatedAt = new Date().toISOString();
    const created = await records.put(scope, name, { sealed: keyring.seal(value, sealContext(scope, name), 'value'), updatedAt });
    return { entry: { name, updatedAt }, created };
  }

  /** The workspace's secrets: names and when each was set, never a value. */
  async list(scope: Scope): Promise<SecretEntry[]> {
    return (await this.deps.records.list(scope)).map(({ name, updatedAt }) => ({ name, updatedAt }));
  }

  /** Delete a secret; false when there was none. */
  remove(scope: Scope, name: string): Promise<boolean> {
    return this.deps.records.remove(scope, name);
  }

  /** The value of the workspace's secret `name`, or undefined; UnreadableSecretError when it no longer opens. */
  async open(scope: Scope, name: string): Promise<string | undefined> {
    const record = await this.deps.records.get(scope, name);
    if (!record) return undefined;
    try {
      return this.deps.keyring.open(record.sealed, sealContext(scope, name));
    } catch (err) {
      if (!(err instanceof SealedValueError)) throw err;
      throw new UnreadableSecretError(`the secret "${name}" of workspace "${scope.workspace}" does not open: ${err.message}`);
    }
  }

  /**
   * Reseal every secret of `cell` sealed under an older key than the current one (after
   * SWITCHYARD_SECRETS_KEY changed, the old key in SWITCHYARD_SECRETS_OLD_KEYS). A secret set
   * meanwhile is left as it is (counted in `skipped`: run it again).
   */
  async reencrypt(cell: Cell): Promise<ResealCounts> {
    const { keyring, records } = this.deps;
    const out = noneResealed();
    for (const workspace of await records.workspaces(cell)) {
      const scope = scopeOf(cell, workspace);
      for (const record of await records.list(scope))
        await keyring.reseal(out, record.sealed, sealContext(scope, record.name), (sealed) =>
          records.swap(scope, record.name, record.sealed, { sealed, updatedAt: record.updatedAt }),
        );
    }
    return out;
  }

  /** For the tools (their SecretLookup): a secret of a workspace by its id. */
  readonly lookup = (workspace: string, name: string): Promise<string | undefined> => this.open(this.deps.scope(workspace), name);
}
