/**
 * Turns what a request presents (an `Authorization: Bearer` API key or JWT, or an admin
 * session cookie) into a Principal, or refuses it. Which credentials are needed is the mode:
 * - `required`: always (NODE_ENV=production, or a JWT issuer configured);
 * - `open`: forced open (SWITCHYARD_DEV_OPEN=1 outside production): a request without a
 *   credential acts for the default workspace with every scope;
 * - `auto`: open while no API key was ever made in this cell, required from the first one on
 *   (once required, never open again). Whether a key exists is asked of Redis at most once per
 *   OPEN_RECHECK_MS while the mode is open: a key made by this process closes it at once, one
 *   made elsewhere (the CLI, another API process) within that time.
 * A presented credential is always checked, in every mode.
 */
import type { ApiKeys } from './api-keys.js';
import { KeyRefusal, looksLikeApiKey } from './api-keys.js';
import { TokenRefusal, type JwtVerifier } from './jwt.js';
import { OPEN_PRINCIPAL, type Principal } from './principal.js';
import type { AdminSessions } from './sessions.js';

export type AuthMode = 'required' | 'open' | 'auto';

/** A credential missing, unknown, expired, revoked or invalid: a 401 with this message. */
export class CredentialRefusal extends Error {}

/** What a request presents. */
export interface Presented {
  /** The bearer token of the Authorization header. */
  bearer?: string | undefined;
  /** The admin session cookie's token. */
  session?: string | undefined;
}

/** How long an `auto` authenticator trusts "no key exists" before asking Redis again. */
export const OPEN_RECHECK_MS = 2_000;

export class Authenticator {
  private closed = false;
  private openUntil = 0;

  constructor(
    private readonly deps: {
      mode: AuthMode;
      keys: ApiKeys;
      sessions: AdminSessions;
      jwt?: JwtVerifier | undefined;
    },
  ) {}

  get mode(): AuthMode {
    return this.deps.mode;
  }

  /** Does a request without a credential act for the default workspace now? */
  async isOpen(): Promise<boolean> {
    if (this.deps.mode !== 'auto') return this.deps.mode === 'open';
    if (this.closed || this.deps.keys.madeHere) return !(this.closed = true);
    if (Date.now() < this.openUntil) return true;
    this.closed = await this.deps.keys.any();
    if (!this.closed) this.openUntil = Date.now() + OPEN_RECHECK_MS;
    return !this.closed;
  }

  /** The principal of what a request presents; throws CredentialRefusal. */
  async authenticate(presented: Presented): Promise<Principal> {
    const { bearer, session } = presented;
    if (bearer !== undefined) return this.verifyBearer(bearer);
    if (session !== undefined) {
      const principal = await this.deps.sessions.get(session);
      if (!principal) throw new CredentialRefusal('admin session expired or unknown: log in again at /admin/login');
      // A session opened with a key ends with it (revoked, expired).
      const keyId = principal.id.startsWith('key:') ? principal.id.slice(4) : undefined;
      const why = keyId === undefined ? undefined : await this.deps.keys.unusable(keyId);
      if (why) throw new CredentialRefusal(`admin session ended: ${why}`);
      return principal;
    }
    if (await this.isOpen()) return OPEN_PRINCIPAL;
    throw new CredentialRefusal(
      `a credential is required: send "Authorization: Bearer <API key${this.deps.jwt ? ' or JWT' : ''}>" (keys are made with \`npm run keys -- create\`)`,
    );
  }

  private async verifyBearer(bearer: string): Promise<Principal> {
    try {
      if (looksLikeApiKey(bearer)) return await this.deps.keys.verify(bearer);
      if (!this.deps.jwt) throw new CredentialRefusal('unknown credential (not an API key, and no JWT issuer is configured)');
      return await this.deps.jwt.verify(bearer);
    } catch (err) {
      if (err instanceof KeyRefusal || err instanceof TokenRefusal) throw new CredentialRefusal(err.message);
      throw err;
    }
  }
}

/** The mode a configuration asks for (see the module header). */
export function authMode(config: { production: boolean; devOpen: boolean; jwt?: unknown }): AuthMode {
  if (config.production) return 'required';
  if (config.devOpen) return 'open';
  return config.jwt ? 'required' : 'auto';
}
