/**
 * Spend envelopes as the API and submissions see them (model/envelope.ts): a workspace's set,
 * read and removed, a key's set with the key, and a day's counters read. The counting itself is
 * the calls' reservation (scripts/budget.ts, lua/includes/envelope.lua).
 */
import { Envelope, EnvelopeDay, envelopeName, nextUtcMidnight, utcDay, type EnvelopeOwner } from '../model/envelope.js';
import { keys } from './keys.js';
import type { Scope } from './scope.js';
import type { StoreContext } from './store-context.js';

/** An envelope that holds a run about to be submitted, with what it spent today (as create-run read it: src/submit/envelope-check.ts). */
export interface EnvelopeToday {
  owner: EnvelopeOwner;
  /** `workspace acme`, `key k1 of workspace acme`. */
  name: string;
  limits: Envelope;
  spentTokens: number;
  spentCostUsd: number;
}

const num = (x: string | null | undefined): number => Number(x ?? 0) || 0;

function parseEnvelope(json: string | null): Envelope | undefined {
  if (!json) return undefined;
  const parsed = Envelope.safeParse(JSON.parse(json));
  return parsed.success ? parsed.data : undefined;
}

/** An envelope as a script read it (its JSON text, what it spent today as stored), of `owner`; undefined when its text is not an envelope. */
export function envelopeRead(owner: EnvelopeToday['owner'], text: string, spentTokens: string, spentCostUsd: string): EnvelopeToday | undefined {
  const limits = parseEnvelope(text);
  return limits && { owner, name: envelopeName(owner), limits, spentTokens: num(spentTokens), spentCostUsd: num(spentCostUsd) };
}

export class Envelopes {
  constructor(private readonly ctx: StoreContext) {}

  /** Set (replace) the envelope of a workspace, or of one of its keys. */
  async set(scope: Scope, keyId: string | undefined, envelope: Envelope): Promise<void> {
    await this.ctx.redis.set(keys.envelope(scope, keyId), JSON.stringify(Envelope.parse(envelope)));
  }

  /** The envelope of a workspace or key, if any. */
  async get(scope: Scope, keyId?: string): Promise<Envelope | undefined> {
    return parseEnvelope(await this.ctx.redis.get(keys.envelope(scope, keyId)));
  }

  /** Remove an envelope (its day's counters stay until they expire); false when there was none. */
  async remove(scope: Scope, keyId?: string): Promise<boolean> {
    return (await this.ctx.redis.del(keys.envelope(scope, keyId))) > 0;
  }

  /** An envelope's counters today (reservations whose lease expired are not counted). */
  async today(scope: Scope, keyId: string | undefined, now = Date.now()): Promise<EnvelopeDay> {
    const day = utcDay(now);
    const [fields, live] = await Promise.all([
      this.ctx.redis.hmget(keys.envelopeDay(scope, keyId, day), 'spentTokens', 'spentCostUsd', 'warned'),
      this.ctx.redis.zrangebyscore(keys.envelopeLeases(scope, keyId, day), now, '+inf'),
    ]);
    let reservedTokens = 0;
    let reservedCostUsd = 0;
    for (const e of live) {
      const [, tokens, cost] = e.split(' ');
      reservedTokens += num(tokens);
      reservedCostUsd += num(cost);
    }
    return EnvelopeDay.parse({
      day,
      resetsAt: new Date(nextUtcMidnight(now)).toISOString(),
      spentTokens: num(fields[0]),
      spentCostUsd: round(num(fields[1])),
      reservedTokens,
      reservedCostUsd: round(reservedCostUsd),
      warned: fields[2] === '1',
    });
  }
}

const round = (usd: number): number => Math.round(usd * 1e9) / 1e9;
