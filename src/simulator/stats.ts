/**
 * What the simulator has served since it started (or since `DELETE /stats`): requests,
 * answers, tokens and errors by kind, in all and for each model. Served at `GET /stats`.
 */

/** Why a request was not answered: an injected error (config `errors`), the simulator's own limits, a bad request, or a status a test planned. */
export type Outcome =
  | 'answered'
  | 'rateLimit'
  | 'server'
  | 'badRequest'
  | 'overloaded'
  | 'quota'
  | 'rpmLimit'
  | 'tpmLimit'
  | 'invalidRequest'
  | 'streamError'
  | 'aborted'
  | 'other';

interface Counters {
  requests: number;
  answered: number;
  streamed: number;
  tokens: { input: number; output: number };
  errors: Partial<Record<Exclude<Outcome, 'answered'>, number>>;
}

const empty = (): Counters => ({ requests: 0, answered: 0, streamed: 0, tokens: { input: 0, output: 0 }, errors: {} });

export interface StatsSnapshot extends Counters {
  since: string;
  byApi: { anthropic: number; openai: number };
  byModel: Record<string, Counters>;
}

export class SimStats {
  private since = new Date();
  private all = empty();
  private byApi = { anthropic: 0, openai: 0 };
  private byModel = new Map<string, Counters>();

  /** One request, once its fate is known; `tokens` only for an answer (streamed or not). */
  record(r: { api: 'anthropic' | 'openai'; model: string; outcome: Outcome; streamed?: boolean; tokens?: { input: number; output: number } }): void {
    this.byApi[r.api]++;
    let m = this.byModel.get(r.model);
    if (!m) this.byModel.set(r.model, (m = empty()));
    for (const c of [this.all, m]) {
      c.requests++;
      if (r.outcome === 'answered') c.answered++;
      else c.errors[r.outcome] = (c.errors[r.outcome] ?? 0) + 1;
      if (r.streamed) c.streamed++;
      if (r.tokens) {
        c.tokens.input += r.tokens.input;
        c.tokens.output += r.tokens.output;
      }
    }
  }

  snapshot(): StatsSnapshot {
    return {
      since: this.since.toISOString(),
      ...structuredClone(this.all),
      byApi: { ...this.byApi },
      byModel: structuredClone(Object.fromEntries(this.byModel)),
    };
  }

  reset(): void {
    this.since = new Date();
    this.all = empty();
    this.byApi = { anthropic: 0, openai: 0 };
    this.byModel.clear();
  }
}
