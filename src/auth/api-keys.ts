/**
 * API keys: random, shown once, stored as the SHA-256 of their secret (a key has 256 bits of
 * entropy, so a fast hash is enough: no one can guess a preimage), bound to a workspace and
 * scopes, with an optional expiry. A key reads `sy_<id>_<secret>`: the id finds its record in
 * one lookup, the secret is compared in constant time. Revoking keeps the record (listed, and
 * refused with 401) so the audit log's key ids stay meaningful.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { NotFoundError } from '../errors/index.js';
import { keys } from '../store/keys.js';
import { whileReachable } from '../store/reachable.js';
import { scopeOf, type Cell } from '../store/scope.js';
import { Envelope } from '../model/envelope.js';
import { ApiScope, CredentialWorkspace, type Principal } from './principal.js';

export const KeyId = z.string().regex(/^[a-z0-9]{12}$/, 'must be a key id (12 lowercase letters and digits, as `keys list` shows)');

/** What is stored of a key: never the key, only the hash of its secret. */
const StoredKey = z.object({
  id: KeyId,
  name: z.string().optional(),
  workspace: CredentialWorkspace,
  scopes: z.array(ApiScope),
  hash: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  revokedAt: z.string().optional(),
  /** What the key may spend per UTC day (its runs' calls reserve against it, beside its workspace's). */
  envelope: Envelope.optional(),
});
type StoredKey = z.infer<typeof StoredKey>;
/** A key as listed: its record without the hash, and whether it is usable now. */
export type KeyView = Omit<StoredKey, 'hash'> & { status: 'active' | 'expired' | 'revoked' };

export interface NewKey {
  workspace: string;
  scopes: ApiScope[];
  /** When it stops working (none: never). */
  expiresAt?: Date;
  /** A label for people (`ci`, `alice's laptop`). */
  name?: string;
  /** What its runs may spend per UTC day, all together (set at creation only). */
  envelope?: Envelope;
}

/** Why a presented key was refused (the 401's message; never the key). */
export class KeyRefusal extends Error {}

const KEY_FORMAT = /^sy_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const newId = () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
};

/** Does `text` look like an API key (as opposed to a JWT)? */
export const looksLikeApiKey = (text: string): boolean => text.startsWith('sy_');

/** A duration such as `30d`, `12h`, `90m` in ms (the CLI's and the admin API's `expires`). */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) throw new Error(`"${text.slice(0, 40)}" is not a duration (a number and one of s, m, h, d, w: 30d, 12h)`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

export class ApiKeys {
  /** Did this object make a key (the open development mode then ends at once in this process)? */
  madeHere = false;

  constructor(private readonly deps: { redis: Redis; cell: Cell }) {}

  private get hashKey(): string {
    return keys.apiKeys(this.deps.cell);
  }

  /** Make a key; the returned `key` is the only time it is ever shown. */
  async create(spec: NewKey): Promise<{ key: string; view: KeyView }> {
    const id = newId();
    const secret = randomBytes(32).toString('base64url');
    const stored: StoredKey = StoredKey.parse({
      id,
      ...(spec.name ? { name: spec.name } : {}),
      workspace: spec.workspace,
      scopes: spec.scopes,
      hash: sha256(secret),
      createdAt: new Date().toISOString(),
      ...(spec.expiresAt ? { expiresAt: spec.expiresAt.toISOString() } : {}),
      ...(spec.envelope ? { envelope: spec.envelope } : {}),
    });
    // The envelope the calls' reservation reads is written with the record (keys.envelope).
    const tx = this.deps.redis.multi().hset(this.hashKey, id, JSON.stringify(stored));
    if (stored.envelope) tx.set(keys.envelope(scopeOf(this.deps.cell, stored.workspace), id), JSON.stringify(stored.envelope));
    await this.reach('creating the key', () => tx.exec());
    this.madeHere = true;
    return { key: `sy_${id}_${secret}`, view: toView(stored) };
  }

  /** Every key (of one workspace when given), newest first. */
  async list(workspace?: string): Promise<KeyView[]> {
    const all = Object.values(await this.reach('the listing', () => this.deps.redis.hgetall(this.hashKey))).flatMap((json) => {
      const parsed = StoredKey.safeParse(JSON.parse(json));
      return parsed.success ? [parsed.data] : [];
    });
    return all
      .filter((k) => workspace === undefined || k.workspace === workspace)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .map(toView);
  }

  /** Revoke key `id` (404 when there is none; revoking twice is harmless). */
  async revoke(id: string): Promise<KeyView> {
    const stored = await this.read(id);
    if (!stored) throw new NotFoundError(`no API key "${id}"`);
    const revoked = { ...stored, revokedAt: stored.revokedAt ?? new Date().toISOString() };
    await this.reach('the revocation', () => this.deps.redis.hset(this.hashKey, id, JSON.stringify(revoked)));
    return toView(revoked);
  }

  /** Were any keys ever made (revoked ones count: the open development mode never comes back)? */
  async any(): Promise<boolean> {
    return (await this.reach('checking credentials', () => this.deps.redis.hlen(this.hashKey))) > 0;
  }

  /** Why key `id` no longer works (revoked, expired, gone), or undefined while it does. */
  async unusable(id: string, now = Date.now()): Promise<string | undefined> {
    const stored = await this.read(id);
    if (!stored) return `API key ${id} no longer exists`;
    if (stored.revokedAt) return `API key ${stored.id} was revoked`;
    if (stored.expiresAt && Date.parse(stored.expiresAt) <= now) return `API key ${stored.id} expired at ${stored.expiresAt}`;
    return undefined;
  }

  /** The principal of a presented key, or a KeyRefusal saying why not. */
  async verify(presented: string, now = Date.now()): Promise<Principal> {
    const m = KEY_FORMAT.exec(presented);
    if (!m) throw new KeyRefusal('malformed API key');
    const stored = await this.read(m[1]!);
    const given = Buffer.from(sha256(m[2]!), 'hex');
    if (!stored || !timingSafeEqual(given, Buffer.from(stored.hash, 'hex'))) throw new KeyRefusal('unknown API key');
    if (stored.revokedAt) throw new KeyRefusal(`API key ${stored.id} was revoked`);
    if (stored.expiresAt && Date.parse(stored.expiresAt) <= now) throw new KeyRefusal(`API key ${stored.id} expired at ${stored.expiresAt}`);
    return { kind: 'key', id: stored.id, workspace: stored.workspace, scopes: stored.scopes };
  }

  /** `fn` on the connection: waited for while it makes its first connection, a 503 while Redis is lost. */
  private async reach<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await firstConnection(this.deps.redis);
    return whileReachable(this.deps.redis, what, fn);
  }

  private async read(id: string): Promise<StoredKey | undefined> {
    const json = await this.reach('checking the API key', () => this.deps.redis.hget(this.hashKey, id));
    if (!json) return undefined;
    const parsed = StoredKey.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  }
}

/** How long a request waits for a connection still making its first connection (a process just started). */
const FIRST_CONNECTION_WAIT_MS = 2_000;

/** Wait (a little) while `redis` makes its first connection; an outage later is not waited on (whileReachable answers 503). */
async function firstConnection(redis: Redis): Promise<void> {
  if (!['wait', 'connecting', 'connect'].includes(redis.status)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, FIRST_CONNECTION_WAIT_MS);
    redis.once('ready', done);
  });
}

function toView({ hash: _hash, ...rest }: StoredKey, now = Date.now()): KeyView {
  const status = rest.revokedAt ? 'revoked' : rest.expiresAt && Date.parse(rest.expiresAt) <= now ? 'expired' : 'active';
  return { ...rest, status };
}
