/**
 * Token estimates (src/calls/token-estimate.ts): OpenAI models counted with their own
 * tokenizer, others with a bound at or above what they bill; every part of a request counted.
 */
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { estimateCall } from '../../src/calls/admission/admission.js';
import { boundTokens, countTokens, estimateInputTokens, estimateTokens, keepsEstimate, tokenizerFor } from '../../src/calls/token-estimate.js';
import { tokens as fakeTokens } from '../fixtures/fake-llm-server.js';

const AS_TEXT = { disallowedSpecial: new Set<string>() };
const JAPANESE = '東京は日本の首都であり、多くの人々が住んでいます。春には桜が咲き、秋には紅葉が美しい。'.repeat(40);
const ENGLISH = 'The quarterly report shows revenue grew in every region, led by services; margins held. '.repeat(40);

describe('tokenizerFor', () => {
  it('names o200k_base for gpt-4o, gpt-4.1, gpt-5 and the o-series, cl100k_base for gpt-4 and gpt-3.5, none for the rest', () => {
    for (const m of ['gpt-4o', 'gpt-4o-mini-2024-07-18', 'gpt-4.1-mini', 'gpt-5.4', 'o3', 'o4-mini', 'openai/gpt-4o'])
      expect(tokenizerFor(m), m).toBe('o200k_base');
    for (const m of ['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo']) expect(tokenizerFor(m), m).toBe('cl100k_base');
    for (const m of ['claude-sonnet-4-6', 'echo', 'llama3.2', 'mistral-large']) expect(tokenizerFor(m), m).toBeUndefined();
  });
});

describe('countTokens', () => {
  it('counts an OpenAI model’s text with its tokenizer, long text in windows to within a token a window', () => {
    expect(countTokens(ENGLISH, 'gpt-4o')).toBe(o200k(ENGLISH, AS_TEXT));
    expect(countTokens(ENGLISH, 'gpt-4')).toBe(cl100k(ENGLISH, AS_TEXT));
    const exact = o200k(JAPANESE, AS_TEXT);
    expect(JAPANESE.length).toBeGreaterThan(1000);
    expect(Math.abs(countTokens(JAPANESE, 'gpt-4o') - exact)).toBeLessThanOrEqual(Math.ceil(JAPANESE.length / 512) * 2);
  });

  it('counts text that looks like a special token as text', () => {
    expect(countTokens('end <|endoftext|> here', 'gpt-4o')).toBe(o200k('end <|endoftext|> here', AS_TEXT));
  });

  it('bounds a model without a tokenizer at one token a CJK character or more, and above o200k_base', () => {
    expect(countTokens(JAPANESE, 'claude-sonnet-4-6')).toBeGreaterThanOrEqual(JAPANESE.length);
    expect(countTokens(JAPANESE, 'claude-sonnet-4-6')).toBeGreaterThanOrEqual(fakeTokens(JAPANESE));
    // Dense text (base64) is caught by the byte-pair count, above three characters a token.
    const b64 = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)).toString('base64');
    expect(countTokens(b64, 'claude-sonnet-4-6')).toBeGreaterThan(b64.length / 3);
    expect(countTokens(b64, 'claude-sonnet-4-6')).toBeGreaterThanOrEqual(Math.ceil(1.3 * o200k(b64, AS_TEXT)));
    // Prose: about a token for every three characters.
    expect(countTokens(ENGLISH, 'claude-sonnet-4-6')).toBe(Math.ceil(ENGLISH.length / 3));
    // A surrogate pair (an emoji) is one character.
    expect(boundTokens('😀😀', true)).toBe(2);
  });

  it('holds echo’s own count (a quarter token a character) without a tokenizer', () => {
    for (const s of [ENGLISH, JAPANESE, '😀 ok']) expect(countTokens(s, 'echo')).toBeGreaterThanOrEqual(Math.ceil(s.length / 4));
  });

  it('past its counting deadline, estimates the rest of a text at the rate counted on its start (not a token a byte): about the same on any machine', () => {
    // Rare CJK characters, new to the tokenizer: about two o200k tokens each, three UTF-8 bytes.
    let seed = 7;
    const rare = Array.from({ length: 6000 }, () => String.fromCharCode(0x4e00 + ((seed = (seed * 1103515245 + 12345) % 2147483648) % 0x5200))).join('');
    const exact = o200k(rare, AS_TEXT);
    expect(exact / rare.length).toBeGreaterThan(1.5);
    // A deadline already past: the start of the text is counted, the rest extrapolated.
    const openai = countTokens(rare, 'gpt-4o', 0);
    expect(openai).toBeGreaterThanOrEqual(exact * 0.95);
    expect(openai).toBeLessThanOrEqual(exact * 1.35);
    // The bound of a model without a tokenizer stays about its own (1.3 × o200k), not twice it.
    const bound = Math.max(rare.length, Math.ceil(1.3 * exact));
    const claude = countTokens(rare, 'claude-sonnet-4-6', 0);
    expect(claude).toBeGreaterThanOrEqual(bound * 0.95);
    expect(claude).toBeLessThanOrEqual(bound * 1.1);
  });

  it('counts a 100 KB word (quadratic for byte-pair merging in one piece) by windows', () => {
    const word = 'a'.repeat(100_000);
    const n = countTokens(word, 'gpt-4o');
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(100_000);
  });
});

describe('estimateInputTokens', () => {
  const base = { model: 'gpt-4o', maxTokens: 100, agent: 'a', signal: new AbortController().signal };

  it('counts the system prompt, every message, tool calls and results, tools and the schema, each with its framing', () => {
    const plain = estimateInputTokens({ ...base, messages: [{ role: 'user', content: 'hi' }] });
    const full = estimateInputTokens({
      ...base,
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: '', toolCalls: [{ id: 't1', name: 'lookup', input: { q: 'weather in Paris' } }] },
        { role: 'tool', results: [{ toolCallId: 't1', content: 'sunny, 21 degrees' }] },
      ],
      tools: [{ name: 'lookup', description: 'Look something up.', inputSchema: { type: 'object', properties: { q: { type: 'string' } } } }],
      responseSchema: { name: 'answer', schema: { type: 'object', properties: { text: { type: 'string' } } } },
    });
    const parts = ['Be brief.', 'lookup', JSON.stringify({ q: 'weather in Paris' }), 'sunny, 21 degrees', 'Look something up.', 'answer'].reduce(
      (n, s) => n + o200k(s, AS_TEXT),
      0,
    );
    expect(plain).toBe(o200k('hi', AS_TEXT) + 4 + 3);
    expect(full).toBeGreaterThan(plain + parts);
  });

  it('counts the stable prefix (system prompt and tools) in the same pass; a prompt-cache marked copy keeps the count', () => {
    const tools = [{ name: 'lookup', description: 'Look something up.', inputSchema: { type: 'object' } }];
    const req = { ...base, model: 'claude-sonnet-4-6', system: 'Be brief.', tools, messages: [{ role: 'user' as const, content: 'hi' }] };
    const { input, prefix } = estimateTokens(req);
    expect(prefix).toBe(estimateTokens({ ...req, messages: [] }).prefix);
    expect(input - prefix).toBe(estimateTokens({ ...req, system: undefined, tools: undefined }).input);
    expect(prefix).toBeGreaterThanOrEqual(350);
    const marked = { ...req, promptCache: true };
    keepsEstimate(req, marked);
    expect(estimateTokens(marked)).toBe(estimateTokens(req));
    expect(estimateCall(marked)).toEqual({ inputTokens: input, outputTokens: 100, cacheWriteTokens: prefix });
  });

  it('adds the tool-use system prompt Anthropic puts in front of a request with tools', () => {
    const ask = { ...base, model: 'claude-haiku-4-5', messages: [{ role: 'user' as const, content: 'hi' }] };
    const tools = [{ name: 'x', description: '', inputSchema: { type: 'object' } }];
    expect(estimateInputTokens({ ...ask, tools }) - estimateInputTokens(ask)).toBeGreaterThanOrEqual(350);
  });

  it('is what estimateCall reserves, with maxTokens for the answer; counted once per request', () => {
    const req = { ...base, messages: [{ role: 'user' as const, content: JAPANESE }] };
    expect(estimateCall(req)).toEqual({ inputTokens: estimateInputTokens(req), outputTokens: 100 });
    expect(estimateInputTokens(req)).toBe(estimateInputTokens(req));
    // The same request sent to another model (a fallback) is counted for that model.
    expect(estimateInputTokens({ ...req, model: 'claude-sonnet-4-6' })).toBeGreaterThan(estimateInputTokens(req));
  });
});
