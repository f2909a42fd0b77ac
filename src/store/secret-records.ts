/**
 * A workspace's secrets as Redis keeps them: one hash per workspace (keys.secrets: name →
 * `{sealed, updatedAt}` as JSON), kept until deleted, and the cell's set of workspaces that
 * have had one (keys.secretWorkspaces: what resealing walks). Values are sealed by the caller
 * (src/agents/workspace-secrets.ts): this module never sees one in clear.
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import { whileReachable } from './reachable.js';
import type { Cell, Scope } from './scope.js';
import { sealedSwap } from './scripts/index.js';

/** One secret as stored. */
export interface SecretRecord {
  /** The value, sealed (never in clear). */
  sealed: string;
  /** When it was last set (ISO). */
  updatedAt: string;
}

export class SecretRecords {
  /** `failFast`: on the API's connection, a command without a reply from Redis is an UnavailableError (503) at once. */
  constructor(
    private readonly redis: Redis,
    private readonly failFast = false,
  ) {}

  private reach<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.failFast ? whileReachable(this.redis, what, fn) : fn();
  }

  async get(scope: Scope, name: string): Promise<SecretRecord | undefined> {
    const text = await this.reach('reading the secret', () => this.redis.hget(keys.secrets(scope), name));
    return text ? (JSON.parse(text) as SecretRecord) : undefined;
  }

  /** Every secret of the workspace, by name. */
  async list(scope: Scope): Promise<(SecretRecord & { name: string })[]> {
    const all = await this.reach("reading the workspace's secrets", () => this.redis.hgetall(keys.secrets(scope)));
    return Object.entries(all)
      .map(([name, text]) => ({ name, ...(JSON.parse(text) as SecretRecord) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Store (or replace) a secret; true when it is new. */
  async put(scope: Scope, name: string, record: SecretRecord): Promise<boolean> {
    const replies = await this.reach('writing the secret', () =>
      this.redis.multi().hset(keys.secrets(scope), name, JSON.stringify(record)).sadd(keys.secretWorkspaces(scope), scope.workspace).exec(),
    );
    return replies?.[0]?.[1] === 1;
  }

  /** Replace a secret's record if its sealed value is still `expectedSealed`; false when it changed meanwhile (or is gone). */
  swap(scope: Scope, name: string, expectedSealed: string, record: SecretRecord): Promise<boolean> {
    return this.reach('writing the secret', () =>
      sealedSwap(this.redis, { key: keys.secrets(scope), field: name, expectedSealed, record: JSON.stringify(record) }),
    );
  }

  /** The workspaces of the cell that have (or had) a secret. */
  workspaces(cell: Cell): Promise<string[]> {
    return this.reach('reading the workspaces with secrets', () => this.redis.smembers(keys.secretWorkspaces(cell)));
  }

  /** Delete a secret; false when there was none. */
  async remove(scope: Scope, name: string): Promise<boolean> {
    return (await this.reach('deleting the secret', () => this.redis.hdel(keys.secrets(scope), name))) === 1;
  }
}
