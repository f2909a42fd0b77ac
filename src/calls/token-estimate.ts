/**
 * How many tokens a request will be billed for, known before it is sent: limits and run budgets
 * reserve it. A model with a published tokenizer is counted with it (OpenAI's o200k_base for
 * gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the o-series; cl100k_base for gpt-4 and gpt-3.5); any
 * other (Claude, echo, a model on a compatible server) gets a bound meant to be at or above what
 * it is billed (see `boundTokens`), so that a budget's overrun stays within one call's error.
 *
 * The tokenizers (gpt-tokenizer, pure JS) load on first use (o200k_base about 70 MB and 150 ms,
 * cl100k_base half that), once per process. Text is counted in windows of at most WINDOW
 * characters: byte-pair merging is quadratic in the length of one unbroken piece (a 100 KB word
 * took seconds), and a cut costs at most a token or two. Counting costs a few milliseconds per
 * 100 KB of prose or JSON, but a few hundred for text new to the tokenizer with no spaces
 * (random letters, rare CJK): past EXACT_MS of counting for one request (about half a megabyte
 * of prose), the rest of a text is estimated at the rate counted on its start (a short sample
 * of a text not yet begun), with a margin (EXTRAPOLATED) where the count is otherwise exact: an
 * estimate that does not depend on how fast the machine counts. An estimate is kept per request
 * object, so the limiter and the budget in front of one call count it once; the tokenizers are
 * loaded when a worker process starts (`loadTokenizers`), not by its first call.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type * as Encoding from 'gpt-tokenizer/encoding/o200k_base';
import type { ChatMessage, CompletionRequest } from './provider.js';

export type TokenizerName = 'o200k_base' | 'cl100k_base';

/** The request fields a prompt's tokens depend on. */
export type PromptParts = Pick<CompletionRequest, 'model' | 'system' | 'messages' | 'tools' | 'responseSchema'>;

/**
 * The tokenizer of an OpenAI model, by name (a router's `openai/` in front is ignored); undefined
 * for any other model.
 */
export function tokenizerFor(model: string): TokenizerName | undefined {
  const m = model.replace(/^openai\//, '');
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4|codex-)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5)/.test(m)) return 'cl100k_base';
  return undefined;
}

/**
 * The tokens of `text` as `model` counts them: its tokenizer's count, or the bound. Past
 * `deadline` (performance.now()), the text not yet counted is estimated at the rate counted on
 * its start (see the module's note).
 */
export function countTokens(text: string, model: string, deadline = Infinity): number {
  if (text.length === 0) return 0;
  const tokenizer = tokenizerFor(model);
  if (tokenizer) return bpeCount(text, tokenizer, deadline, EXTRAPOLATED);
  return boundTokens(text, model === 'echo', deadline);
}

/** Load the tokenizers `models` count with now (a worker process's start), not in its first call's path. */
export function loadTokenizers(models: readonly string[]): void {
  for (const m of new Set(models)) if (m !== 'echo') encoder(tokenizerFor(m) ?? 'o200k_base');
}

/**
 * At or above what a model without a known tokenizer bills for `text`:
 * - ASCII at 3 characters a token: Claude's tokenizers give about 3.5 for English prose (this
 *   overstates prose by about a sixth); denser text (code, JSON) is held by the third rule;
 * - each other character at least one token: a common CJK character is one token in current
 *   vocabularies (rarer ones and emoji two or three; an accented Latin, Cyrillic or Greek letter
 *   usually merges into less than one, which this overstates);
 * - and never below 1.3 × the o200k_base count: text dense in rare pieces (numbers, identifiers,
 *   base64, rare characters) is caught by a real byte-pair count, with room for Claude's
 *   smaller vocabularies (reported at 15–30% more tokens than o200k_base for the same text).
 * The echo provider bills a quarter token a character: the first two alone hold it.
 */
export function boundTokens(text: string, charsOnly = false, deadline = Infinity): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) ascii++;
    // A surrogate pair is one character: count it at its high half.
    else if (c < 0xdc00 || c > 0xdfff) other++;
  }
  const byChars = Math.ceil(ascii / 3) + other;
  // The 1.3 is the margin of an extrapolated rest too.
  return charsOnly ? byChars : Math.max(byChars, Math.ceil(1.3 * bpeCount(text, 'o200k_base', deadline, 1)));
}

/** Tokens a message costs beyond its text (role and separators; OpenAI documents 3–4), and a reply's priming. */
const PER_MESSAGE = 4;
const REPLY_PRIMING = 3;
/** Tokens a tool or schema costs beyond its name, description and JSON (its framing). */
const PER_TOOL = 10;
/** The system prompt Anthropic adds to a request with tools (its docs: 313–346 tokens for current models). */
const CLAUDE_TOOL_PROMPT = 350;

const cache = new WeakMap<object, { model: string; estimate: TokenEstimate }>();

/** A request's input tokens, and those of its stable prefix (its system prompt and tools, with their framing: what a prompt cache keeps). */
export interface TokenEstimate {
  input: number;
  prefix: number;
}

/**
 * The tokens of a request: its system prompt, each message (text, tool calls with their
 * arguments, tool results), the tools offered and the answer's schema, each counted for its
 * model, with their framing; counted once per request (and per copy of it that keepsEstimate
 * was told of), within the module's time limit.
 */
export function estimateTokens(req: PromptParts): TokenEstimate {
  const held = cache.get(req);
  if (held?.model === req.model) return held.estimate;
  // The tokenizer's first load is not counting time.
  if (req.model !== 'echo') encoder(tokenizerFor(req.model) ?? 'o200k_base');
  const deadline = performance.now() + EXACT_MS;
  const count = (text: string | undefined) => (text ? countTokens(text, req.model, deadline) : 0);
  let prefix = req.system ? PER_MESSAGE + count(req.system) : 0;
  let n = REPLY_PRIMING;
  for (const m of req.messages) n += PER_MESSAGE + messageTokens(m, count);
  for (const t of req.tools ?? []) prefix += PER_TOOL + count(t.name) + count(t.description) + count(JSON.stringify(t.inputSchema));
  if (req.tools?.length && req.model.startsWith('claude')) prefix += CLAUDE_TOOL_PROMPT;
  const rs = req.responseSchema;
  if (rs) n += PER_TOOL + count(rs.name) + count(rs.description) + count(JSON.stringify(rs.schema));
  const estimate = { input: n + prefix, prefix };
  cache.set(req, { model: req.model, estimate });
  return estimate;
}

/** The input tokens of a request (estimateTokens). */
export const estimateInputTokens = (req: PromptParts): number => estimateTokens(req).input;

/** The tokens of a request's stable prefix, the part a prompt cache keeps (estimateTokens). */
export const estimatePrefixTokens = (req: PromptParts): number => estimateTokens(req).prefix;

/** `copy` sends what `req` sends (it changes only how: a prompt-cache mark): its count is `req`'s, not made again. */
export function keepsEstimate(req: object, copy: object): void {
  const held = cache.get(req);
  if (held) cache.set(copy, held);
}

function messageTokens(m: ChatMessage, count: (text: string | undefined) => number): number {
  if (m.role === 'user') return count(m.content);
  if (m.role === 'tool') return m.results.reduce((n, r) => n + PER_MESSAGE + count(r.content), 0);
  return count(m.content) + (m.toolCalls ?? []).reduce((n, c) => n + PER_MESSAGE + count(c.name) + count(c.invalidInput ?? JSON.stringify(c.input)), 0);
}

/**
 * Longest piece counted at once; the piece of a text counted past the deadline to measure its
 * rate; the most time one request's text is counted for; the margin on a rest estimated from a
 * rate where the count is otherwise exact (a text's start may be lighter than its rest).
 */
const WINDOW = 512;
const SAMPLE = 128;
const EXACT_MS = 50;
const EXTRAPOLATED = 1.3;
/** Text that looks like a special token (`<|endoftext|>`) is counted as text, never refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };
/** Pieces whose merges each tokenizer keeps (its default, 100,000, holds more than a process needs). */
const MERGE_CACHE = 20_000;
const load = createRequire(import.meta.url);
const encoders = new Map<TokenizerName, typeof Encoding>();

function encoder(name: TokenizerName): typeof Encoding {
  let e = encoders.get(name);
  if (!e) {
    // Loaded on first use, synchronously: estimates are made in the call path.
    e = load(`gpt-tokenizer/cjs/encoding/${name}`) as typeof Encoding;
    e.setMergeCacheSize(MERGE_CACHE);
    encoders.set(name, e);
  }
  return e;
}

/**
 * `text` counted by `name`, WINDOW characters at most at a time, cut at a space where one is
 * near. Past `deadline`, what is left is estimated at the rate counted so far (× `margin`); a
 * text begun past it has a SAMPLE counted first.
 */
function bpeCount(text: string, name: TokenizerName, deadline: number, margin: number): number {
  const enc = encoder(name);
  let n = 0;
  for (let i = 0; i < text.length;) {
    const late = performance.now() > deadline;
    if (late && i > 0) return n + Math.ceil(((text.length - i) * n * margin) / i);
    const size = late ? SAMPLE : WINDOW;
    let end = Math.min(text.length, i + size);
    if (end < text.length) {
      const space = text.lastIndexOf(' ', end);
      if (space > i + size / 2) end = space;
      else if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
    }
    n += enc.countTokens(text.slice(i, end), AS_TEXT);
    i = end;
  }
  return n;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
