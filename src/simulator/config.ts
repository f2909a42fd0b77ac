/**
 * The simulator's configuration: one zod schema, read from a YAML file (`--config`) and from
 * flags (flags.ts), which win. Every field has its default here and nowhere else.
 */
import { z } from 'zod';

/** `200` (fixed), `normal:200:900` or `lognormal:200:900` (p50:p99): the shorthand a flag or a YAML string gives. */
const SHORTHAND = /^(?:(normal|lognormal):)?(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/;

const DistributionObject = z.discriminatedUnion('type', [
  z.object({ type: z.literal('fixed'), value: z.number().nonnegative() }).strict(),
  z
    .object({ type: z.enum(['normal', 'lognormal']), p50: z.number().positive(), p99: z.number().positive() })
    .strict()
    .refine((d) => d.p99 >= d.p50, { message: 'p99 must be at least p50' }),
]);

/**
 * A value drawn for each request: fixed, or a normal or lognormal distribution given by its
 * median (p50) and 99th percentile (p99). Written as an object or as the shorthand `200`,
 * `normal:200:900`, `lognormal:200:900`.
 */
export const Distribution = z.union([
  z
    .number()
    .nonnegative()
    .transform((value) => ({ type: 'fixed' as const, value })),
  z.string().transform((s, ctx) => {
    const m = SHORTHAND.exec(s.trim());
    const [kind, a, b] = [m?.[1], Number(m?.[2]), Number(m?.[3])];
    if (!m || (kind && (m[3] === undefined || b < a || a <= 0)) || (!kind && m[3] !== undefined)) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a distribution: write 200, normal:P50:P99 or lognormal:P50:P99 (P99 ≥ P50 > 0)` });
      return z.NEVER;
    }
    return kind ? { type: kind as 'normal' | 'lognormal', p50: a, p99: b } : { type: 'fixed' as const, value: a };
  }),
  DistributionObject,
]);
export type Distribution = z.output<typeof Distribution>;

const rate = z.number().min(0).max(1);

/** The share of requests (0 to 1) answered with each error, drawn per request. */
export const ErrorRates = z
  .object({
    /** 429 rate limit, with `Retry-After`. */
    rateLimit: rate.default(0),
    /** 500 server error. */
    server: rate.default(0),
    /** 400 invalid request. */
    badRequest: rate.default(0),
    /** Anthropic 529 `overloaded_error`; OpenAI 503. */
    overloaded: rate.default(0),
    /** OpenAI 429 `insufficient_quota`; Anthropic 402 `billing_error`. */
    quota: rate.default(0),
  })
  .strict()
  .refine((r) => r.rateLimit + r.server + r.badRequest + r.overloaded + r.quota <= 1, { message: 'the error rates add up to more than 1' });
export type ErrorRates = z.output<typeof ErrorRates>;
/**
 * How a compatible server bends OpenAI's wire format (wire/openai-quirks.ts): `none` is OpenAI's
 * own; `gemini` Gemini's OpenAI-compatible endpoint; `ollama` Ollama's `/v1`.
 */
export const QUIRKS = ['none', 'gemini', 'ollama'] as const;
export type Quirks = (typeof QUIRKS)[number];

export const ERROR_KINDS = ['rateLimit', 'server', 'badRequest', 'overloaded', 'quota'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const SimConfig = z
  .object({
    /** Port to listen on (0: any free port). @default 4010 */
    port: z.number().int().min(0).max(65535).default(4010),
    /** Address to listen on. @default 127.0.0.1 */
    host: z.string().min(1).default('127.0.0.1'),
    /** Seed of every random draw (latency, errors, answer lengths, words): the same requests in the same order get the same answers. Random when absent. */
    seed: z.number().int().optional(),
    /** Milliseconds before an answer starts (a stream's first token; the whole of an answer not streamed). @default 0 */
    latencyMs: Distribution.default({ type: 'fixed', value: 0 }),
    /** Output tokens a second: paces a stream's pieces, and adds output ÷ rate to an answer not streamed. Unpaced when absent. */
    tokensPerSecond: z.number().positive().optional(),
    /** Output tokens of a text answer (capped by the request's max tokens: then it stops for length). @default 20 */
    outputTokens: Distribution.default({ type: 'fixed', value: 20 }),
    /** A fixed text answer instead of generated words. */
    reply: z.string().optional(),
    /** Error rates, drawn per request after the limits. */
    errors: ErrorRates.default({ rateLimit: 0, server: 0, badRequest: 0, overloaded: 0, quota: 0 }),
    /** `Retry-After` (seconds) of an injected 429 or 529. @default 1 */
    retryAfterSeconds: z.number().nonnegative().default(1),
    /** Requests a minute per model, refilled continuously as the providers do; a request beyond it gets 429. */
    rpm: z.number().int().positive().optional(),
    /** Tokens (prompt + answer) a minute per model, refilled continuously; a request that finds too few gets 429. */
    tpm: z.number().int().positive().optional(),
    /**
     * How many seconds of its limit a bucket holds: 60 lets a minute's worth come at once; 1
     * holds rpm ÷ 60 a second, as providers say they may enforce a limit over shorter periods. @default 60
     */
    bucketSeconds: z.number().positive().max(60).default(60),
    /** Answer the OpenAI API the way a compatible server does, with its departures from OpenAI's format. @default none */
    quirks: z.enum(QUIRKS).default('none'),
    /**
     * Simulate the providers' prompt caches (prompt-cache.ts): Anthropic's prefixes marked with
     * `cache_control`, OpenAI's long prompts, reported as cache tokens in the usage. @default false
     */
    promptCache: z.boolean().default(false),
  })
  .strict();
export type SimConfig = z.output<typeof SimConfig>;
export type SimConfigInput = z.input<typeof SimConfig>;

/** The first problem of a config that does not parse, as one line: `tpm: Too small: expected number to be >0`. */
export function firstIssue(err: z.ZodError): string {
  let issue: z.core.$ZodIssue | undefined = err.issues[0];
  let path: PropertyKey[] = issue?.path ?? [];
  // A value of none of a union's forms: the form it came closest to says more than "Invalid input".
  while (issue?.code === 'invalid_union') {
    const inner: z.core.$ZodIssue | undefined = issue.errors.flat().find((i) => i.code !== 'invalid_type') ?? issue.errors.flat()[0];
    if (!inner) break;
    path = [...path, ...inner.path];
    issue = inner;
  }
  if (!issue) return 'invalid configuration';
  return `${path.length ? `${path.map(String).join('.')}: ` : ''}${issue.message}`;
}
