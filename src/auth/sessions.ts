/**
 * Admin sessions: what Bull Board's login sets as a cookie, so a browser need not send a bearer
 * header. A session is a random token whose SHA-256 names a Redis key holding the principal
 * that logged in, with a time to live; the token itself is stored nowhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from '../store/keys.js';
import { whileReachable } from '../store/reachable.js';
import type { Cell } from '../store/scope.js';
import type { Principal } from './principal.js';

/** How long an admin session lasts. */
export const SESSION_TTL_MS = 8 * 3_600_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class AdminSessions {
  constructor(private readonly deps: { redis: Redis; cell: Cell; ttlMs?: number }) {}

  /** A new session of `principal`: its token, for the cookie. */
  async create(principal: Principal): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const session: Principal = { ...principal, kind: 'session', id: `${principal.kind}:${principal.id}` };
    await whileReachable(this.deps.redis, 'the login', () =>
      this.deps.redis.set(keys.adminSession(this.deps.cell, sha256(token)), JSON.stringify(session), 'PX', this.deps.ttlMs ?? SESSION_TTL_MS),
    );
    return token;
  }

  /** The principal of a live session, or undefined. */
  async get(token: string): Promise<Principal | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const json = await whileReachable(this.deps.redis, 'checking the session', () => this.deps.redis.get(keys.adminSession(this.deps.cell, sha256(token))));
    return json ? (JSON.parse(json) as Principal) : undefined;
  }

  async end(token: string): Promise<void> {
    await whileReachable(this.deps.redis, 'the logout', () => this.deps.redis.del(keys.adminSession(this.deps.cell, sha256(token))));
  }
}
