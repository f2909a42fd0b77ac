/**
 * The providers' prompt caches, simulated (`promptCache` in the config, `--prompt-cache`):
 * - Anthropic caches the prefix a request marks with `cache_control` (tools, then system, up to
 *   the last block marked), when it is at least MIN_TOKENS: the first request writes it
 *   (`cache_creation_input_tokens`), the next ones within TTL_MS read it (`cache_read_input_tokens`);
 * - OpenAI caches any prompt's prefix of MIN_TOKENS or more by itself (here: the system message
 *   and tools): the first request of a prefix caches it, the next ones read it
 *   (`prompt_tokens_details.cached_tokens`), with no charge for writing.
 * Both count the cached tokens within the prompt's (`usage.input` of an answer): the wire formats
 * say them apart (wire/anthropic.ts takes them out of `input_tokens`, as Anthropic does).
 */
import { createHash } from 'node:crypto';
import type { Api } from './request.js';

/** The fewest prefix tokens cached (both providers' minimum for most models). */
export const MIN_TOKENS = 1024;
/** How long a cached prefix lives after its last use (Anthropic's default, 5 minutes). */
export const TTL_MS = 5 * 60_000;

export interface CacheUse {
  read: number;
  write: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const marked = (v: unknown) => isRecord(v) && isRecord(v.cache_control);

export class PromptCacheSim {
  /** Prefix hash → when it expires (ms). */
  private readonly held = new Map<string, number>();

  /** What a request reads from and writes to the cache (its prefix counted by `count`). */
  use(api: Api, body: unknown, model: string, count: (text: string) => number, now = Date.now()): CacheUse {
    const prefix = api === 'anthropic' ? markedPrefix(body) : openaiPrefix(body);
    if (prefix === undefined) return { read: 0, write: 0 };
    const tokens = count(prefix);
    if (tokens < MIN_TOKENS) return { read: 0, write: 0 };
    const key = createHash('sha256').update(`${model}\n${prefix}`).digest('hex');
    const hit = (this.held.get(key) ?? 0) > now;
    this.held.set(key, now + TTL_MS);
    if (hit) return { read: tokens, write: 0 };
    return { read: 0, write: api === 'anthropic' ? tokens : 0 };
  }
}

/** Anthropic: the tools and system blocks up to the last one marked with cache_control (undefined: none is). */
function markedPrefix(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  const tools: unknown[] = Array.isArray(body.tools) ? (body.tools as unknown[]) : [];
  const system: unknown[] = Array.isArray(body.system)
    ? (body.system as unknown[])
    : typeof body.system === 'string'
      ? [{ type: 'text', text: body.system }]
      : [];
  const blocks: unknown[] = [...tools, ...system];
  let last = -1;
  blocks.forEach((b, i) => {
    if (marked(b)) last = i;
  });
  if (last < 0) return undefined;
  return blocks
    .slice(0, last + 1)
    .map((b) => (isRecord(b) && typeof b.text === 'string' && !('name' in b) ? b.text : JSON.stringify(b)))
    .join('\n');
}

/** OpenAI: the system (or developer) messages at the start and the tools. */
function openaiPrefix(body: unknown): string | undefined {
  if (!isRecord(body) || !Array.isArray(body.messages)) return undefined;
  const parts: string[] = [];
  for (const m of body.messages) {
    if (!isRecord(m) || (m.role !== 'system' && m.role !== 'developer')) break;
    parts.push(typeof m.content === 'string' ? m.content : JSON.stringify(m.content));
  }
  if (Array.isArray(body.tools)) parts.push(JSON.stringify(body.tools));
  return parts.length ? parts.join('\n') : undefined;
}
