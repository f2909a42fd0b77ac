/**
 * Provider keys at rest: sealed with AES-256-GCM (node:crypto) under SWITCHYARD_SECRETS_KEY.
 *
 * A sealed value is `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url parts): the key id is the
 * first 8 bytes of the SHA-256 of the key (hex), so no id has to be chosen or kept in step with
 * the key. The value is bound to where it belongs (`<workspace>/<agent>` as additional data): a
 * sealed key copied to another agent or workspace does not open. Rotation: the new key becomes
 * SWITCHYARD_SECRETS_KEY, the old one moves to SWITCHYARD_SECRETS_OLD_KEYS (values sealed under it
 * still open), and `npm run secrets -- reencrypt` reseals every value under the current key;
 * then the old key can be dropped.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ValidationError } from '../errors/index.js';

const VERSION = 'v1';
const IV_BYTES = 12;

/** The id of a key: 16 hex digits of its SHA-256 (it says nothing of the key). */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** There is no current key to seal a value with (SWITCHYARD_SECRETS_KEY is not set): a 422 on the request that brought one. */
export class NoSecretsKeyError extends ValidationError {}

/** A sealed value that does not open (an unknown key id, a value altered or moved): never the value itself in the message. */
export class SealedValueError extends Error {}

export class Keyring {
  private readonly keys = new Map<string, Buffer>();
  /** The id of the key new values are sealed under (none: no value can be sealed). */
  readonly currentId: string | undefined;

  /** From the configuration's `secrets` (base64 keys, already checked to be 32 bytes each). */
  constructor(secrets: { key: string | undefined; oldKeys: readonly string[] }) {
    for (const k of secrets.oldKeys) this.add(Buffer.from(k, 'base64'));
    this.currentId = secrets.key ? this.add(Buffer.from(secrets.key, 'base64')) : undefined;
  }

  private add(key: Buffer): string {
    if (key.length !== 32) throw new Error('a secrets key must be 32 bytes');
    const id = keyIdOf(key);
    this.keys.set(id, key);
    return id;
  }

  /** Can values be sealed (a current key is configured)? */
  get canSeal(): boolean {
    return this.currentId !== undefined;
  }

  /** `plain` sealed under the current key, bound to `context`; NoSecretsKeyError without one. */
  seal(plain: string, context: string, field = 'apiKey'): string {
    const id = this.currentId;
    if (id === undefined) {
      const message = 'SWITCHYARD_SECRETS_KEY is not set on this server: a provider key cannot be stored (it is never stored in clear)';
      throw new NoSecretsKeyError(message, [{ path: field, message }]);
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(id)!, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The value `sealed` holds; SealedValueError when its key is not configured or it was altered or moved. */
  open(sealed: string, context: string): string {
    const [version, id, iv, body, tag] = sealed.split('.');
    if (version !== VERSION || !id || iv === undefined || body === undefined || tag === undefined) throw new SealedValueError('not a sealed value');
    const key = this.keys.get(id);
    if (!key) throw new SealedValueError(`sealed under key ${id}, which is neither SWITCHYARD_SECRETS_KEY nor one of SWITCHYARD_SECRETS_OLD_KEYS`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SealedValueError(`a value sealed under key ${id} does not open (altered, or sealed for another agent)`);
    }
  }

  /** The id of the key `sealed` was sealed under. */
  static keyIdOf(sealed: string): string | undefined {
    return sealed.split('.')[1];
  }

  /** Is `sealed` under another key than the current one (a value to reseal)? */
  isStale(sealed: string): boolean {
    return this.currentId !== undefined && Keyring.keyIdOf(sealed) !== this.currentId;
  }

  /**
   * One value of a `reencrypt` (`npm run secrets -- reencrypt`): `sealed` resealed under the
   * current key with the same `context`, written by `swap` only if the stored value is still
   * `sealed` (false: it changed or went meanwhile), and counted into `out`. A value no key opens
   * is named in `out.failed` (never its value).
   */
  async reseal(out: ResealCounts, sealed: string, context: string, swap: (resealed: string) => Promise<boolean>): Promise<void> {
    if (!this.isStale(sealed)) {
      out.current++;
      return;
    }
    let plain: string;
    try {
      plain = this.open(sealed, context);
    } catch (err) {
      out.failed.push(`${context}: ${(err as Error).message}`);
      return;
    }
    if (await swap(this.seal(plain, context))) out.resealed++;
    else out.skipped++;
  }
}

/** What a `reencrypt` did: values resealed, already under the current key, changed meanwhile (run it again), and those no key opens. */
export interface ResealCounts {
  resealed: number;
  current: number;
  skipped: number;
  /** The contexts of the values no configured key opens, with why. */
  failed: string[];
}

export const noneResealed = (): ResealCounts => ({ resealed: 0, current: 0, skipped: 0, failed: [] });
