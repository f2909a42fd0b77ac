/**
 * Probe (no target): what estimating a call's prompt costs (src/calls/token-estimate.ts):
 * the tokenizer's first load (time, heap, RSS), then a 100 KB prompt of several kinds, each new
 * to the process (no cached merges) and again, for an OpenAI model (o200k_base) and for Claude
 * (the bound, which also counts with o200k_base).
 *
 *   node --expose-gc --import tsx bench/probes/token-estimate.ts
 */
import { performance } from 'node:perf_hooks';
import { estimateInputTokens } from '../../src/calls/token-estimate.js';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const KB100 = 100_000;
const kinds: Record<string, () => string> = {
  english: () => 'The quarterly report shows revenue grew in every region, led by services; margins held. '.repeat(1200).slice(0, KB100),
  json: () => JSON.stringify(Array.from({ length: 1500 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], v: rnd() }))).slice(0, KB100),
  // Japanese prose: 3 bytes a character in UTF-8, so about 33,000 characters.
  japanese: () => '東京は日本の首都であり、多くの人々が住んでいます。春には桜が咲き、秋には紅葉が美しい。'.repeat(800).slice(0, KB100 / 3),
  // The worst kinds: no spaces or punctuation to split at (BPE is slowest on long pieces).
  'random CJK': () => Array.from({ length: KB100 / 3 }, () => String.fromCharCode(0x4e00 + Math.floor(rnd() * 20000))).join(''),
  'random letters': () => Array.from({ length: KB100 }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join(''),
  base64: () => Buffer.from(Array.from({ length: (KB100 * 3) / 4 }, () => Math.floor(rnd() * 256))).toString('base64'),
};

const request = (model: string, text: string) => ({ model, system: 'You are helpful.', messages: [{ role: 'user' as const, content: text }] });

for (const model of ['gpt-4o', 'claude-sonnet-4-6']) {
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  let t = performance.now();
  estimateInputTokens(request(model, 'load the tokenizer'));
  const load = performance.now() - t;
  globalThis.gc?.();
  console.log(
    `${model}: first estimate (loads o200k_base if not loaded) ${load.toFixed(0)} ms, heap +${mb(process.memoryUsage().heapUsed - heap0)}, RSS +${mb(process.memoryUsage().rss - rss0)}`,
  );
  for (const [kind, make] of Object.entries(kinds)) {
    const text = make();
    t = performance.now();
    const n = estimateInputTokens(request(model, text));
    const first = performance.now() - t;
    t = performance.now();
    estimateInputTokens(request(model, text));
    const again = performance.now() - t;
    console.log(
      `  ${kind.padEnd(15)} ${Buffer.byteLength(text)} B, ${text.length} chars -> ${n} tokens: ${first.toFixed(1)} ms new, ${again.toFixed(1)} ms again`,
    );
  }
}
