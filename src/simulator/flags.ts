/**
 * The simulator's command line: flags (node's util.parseArgs) over an optional YAML config
 * file, checked by the one schema (config.ts). A problem is one line naming the flag or field.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { firstIssue, SimConfig } from './config.js';

export const USAGE = `usage: npm run simulate -- [--config sim.yaml] [flags]
  --port N                 port to listen on (default 4010; 0: any free port)
  --host ADDR              address to listen on (default 127.0.0.1)
  --seed N                 seed every random draw: the same requests in the same order get the same answers
  --latency D              ms before an answer starts: 200, normal:P50:P99 or lognormal:P50:P99
  --tokens-per-second N    pace of a streamed answer (and added to one not streamed)
  --output-tokens D        size of a text answer in tokens: 50, normal:P50:P99 or lognormal:P50:P99
  --reply TEXT             answer this text instead of generated words
  --rpm N                  requests a minute per model (429 with Retry-After beyond it)
  --tpm N                  tokens (prompt + answer) a minute per model
  --bucket-seconds S       seconds of the limit a bucket holds (default 60: a minute's worth at once; 1: rpm/60 a second)
  --rate-limit P           share of requests answered 429 (0 to 1)
  --server-error P         share answered 500
  --bad-request P          share answered 400
  --overloaded P           share answered Anthropic 529 overloaded_error / OpenAI 503
  --quota P                share answered OpenAI 429 insufficient_quota / Anthropic 402 billing_error
  --retry-after S          Retry-After (seconds) of an injected 429, 5xx (default 1)
  --quirks NAME            answer the OpenAI API as a compatible server does: none (default), gemini, ollama
  --prompt-cache           simulate prompt caching: cache_control prefixes (Anthropic), long prompts (OpenAI), cache tokens in the usage
  --help                   this text`;

/** Each numeric flag and the config field it sets (`errors.x`: a field of `errors`). */
const NUMBERS: Record<string, string> = {
  port: 'port',
  seed: 'seed',
  'tokens-per-second': 'tokensPerSecond',
  rpm: 'rpm',
  tpm: 'tpm',
  'bucket-seconds': 'bucketSeconds',
  'rate-limit': 'errors.rateLimit',
  'server-error': 'errors.server',
  'bad-request': 'errors.badRequest',
  overloaded: 'errors.overloaded',
  quota: 'errors.quota',
  'retry-after': 'retryAfterSeconds',
};
const STRINGS: Record<string, string> = { host: 'host', latency: 'latencyMs', 'output-tokens': 'outputTokens', reply: 'reply', quirks: 'quirks' };

export type FlagsResult = { config: SimConfig } | { help: true } | { error: string };

export function parseFlags(argv: string[], readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): FlagsResult {
  const options: Record<string, { type: 'string' } | { type: 'boolean' }> = {
    help: { type: 'boolean' },
    config: { type: 'string' },
    'prompt-cache': { type: 'boolean' },
  };
  for (const name of [...Object.keys(NUMBERS), ...Object.keys(STRINGS)]) options[name] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    // node's message is a sentence or two; its first says what was wrong.
    return { error: `${(err as Error).message.split('. ')[0]} (see --help)` };
  }
  if (values.help) return { help: true };
  let input: Record<string, unknown> = {};
  if (typeof values.config === 'string') {
    try {
      const parsed: unknown = parseYaml(readFile(values.config));
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) return { error: `${values.config}: the config must be a YAML mapping` };
      input = (parsed as Record<string, unknown> | null) ?? {};
    } catch (err) {
      return { error: `${values.config}: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  for (const [flag, field] of [...Object.entries(NUMBERS), ...Object.entries(STRINGS)]) {
    const v = values[flag];
    if (typeof v !== 'string') continue;
    const value = flag in NUMBERS ? Number(v) : v;
    if (typeof value === 'number' && (v.trim() === '' || !Number.isFinite(value))) return { error: `--${flag}: expected a number, got "${v}"` };
    set(input, field, value);
  }
  if (values['prompt-cache'] === true) input.promptCache = true;
  const parsed = SimConfig.safeParse(input);
  if (!parsed.success) {
    const issue = firstIssue(parsed.error);
    // Named as it was given: a flag, or a field of the config file.
    const given = [...Object.entries(NUMBERS), ...Object.entries(STRINGS)].find(
      ([flag, field]) => typeof values[flag] === 'string' && issue.startsWith(`${field}: `),
    );
    if (given) return { error: `--${given[0]}: ${issue.slice(given[1].length + 2)}` };
    return { error: typeof values.config === 'string' ? `${values.config}: ${issue}` : issue };
  }
  return { config: parsed.data };
}

function set(target: Record<string, unknown>, field: string, value: unknown): void {
  const [head, tail] = field.split('.') as [string, string | undefined];
  if (tail === undefined) target[head] = value;
  else target[head] = { ...(target[head] as Record<string, unknown> | undefined), [tail]: value };
}
