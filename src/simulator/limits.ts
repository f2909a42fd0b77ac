/**
 * The simulator's own rate limits, held per model as the providers hold them: a bucket of
 * requests (and one of tokens) refilled continuously, `rpm` (`tpm`) a minute, holding
 * `bucketSeconds` of it (a minute's worth by default).
 * A request takes one request and its tokens (prompt and answer) when it arrives; one that
 * finds too few is refused, told when enough will be back (`Retry-After`). Every answer
 * carries the state of both buckets as the provider's rate-limit headers (wire/).
 */

/** One bucket as the headers tell it: its size, what is left, and ms until it is full again. */
export interface BucketState {
  limit: number;
  remaining: number;
  resetMs: number;
}

export interface LimitState {
  requests?: BucketState;
  tokens?: BucketState;
}

export type Admission = { ok: true; state: LimitState } | { ok: false; state: LimitState; which: 'rpm' | 'tpm'; retryAfterMs: number };

class Bucket {
  private level: number;
  private at: number;
  /** What it holds at most, and what comes back each ms. */
  private readonly size: number;
  private readonly perMs: number;

  constructor(
    /** The limit a minute, as the headers say it. */
    private readonly limit: number,
    seconds: number,
    now: number,
  ) {
    this.perMs = limit / 60_000;
    this.size = Math.max(1, (limit * seconds) / 60);
    this.level = this.size;
    this.at = now;
  }

  private refill(now: number): void {
    this.level = Math.min(this.size, this.level + (now - this.at) * this.perMs);
    this.at = now;
  }

  /** Ms until `n` are in the bucket (0: they are now; Infinity: never, it holds fewer). */
  waitFor(n: number, now: number): number {
    this.refill(now);
    if (n > this.size) return Infinity;
    return this.level >= n ? 0 : Math.ceil((n - this.level) / this.perMs);
  }

  take(n: number): void {
    this.level -= n;
  }

  state(): BucketState {
    return { limit: this.limit, remaining: Math.max(0, Math.floor(this.level)), resetMs: Math.ceil((this.size - this.level) / this.perMs) };
  }
}

export class Limits {
  private readonly models = new Map<string, { requests?: Bucket; tokens?: Bucket }>();

  constructor(private readonly limits: { rpm?: number | undefined; tpm?: number | undefined; bucketSeconds: number }) {}

  /** Count a request of `tokens` against `model`'s buckets, or refuse it (then nothing is taken). */
  admit(model: string, tokens: number, now = Date.now()): Admission {
    const b = this.bucketsOf(model, now);
    const waitRequests = b.requests?.waitFor(1, now) ?? 0;
    const waitTokens = b.tokens?.waitFor(tokens, now) ?? 0;
    if (waitRequests > 0 || waitTokens > 0) {
      const which = waitRequests >= waitTokens ? 'rpm' : 'tpm';
      return { ok: false, state: stateOf(b), which, retryAfterMs: Math.max(waitRequests, waitTokens) };
    }
    b.requests?.take(1);
    b.tokens?.take(tokens);
    return { ok: true, state: stateOf(b) };
  }

  private bucketsOf(model: string, now: number) {
    let b = this.models.get(model);
    if (!b) {
      b = {
        ...(this.limits.rpm ? { requests: new Bucket(this.limits.rpm, this.limits.bucketSeconds, now) } : {}),
        ...(this.limits.tpm ? { tokens: new Bucket(this.limits.tpm, this.limits.bucketSeconds, now) } : {}),
      };
      this.models.set(model, b);
    }
    return b;
  }
}

const stateOf = (b: { requests?: Bucket; tokens?: Bucket }): LimitState => ({
  ...(b.requests ? { requests: b.requests.state() } : {}),
  ...(b.tokens ? { tokens: b.tokens.state() } : {}),
});
