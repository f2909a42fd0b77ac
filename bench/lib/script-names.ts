/**
 * Names of the Lua scripts a Redis runs by SHA (`EVALSHA <sha>`): Switchyard's (the state
 * scripts' lua/ folder and the limiter's) and BullMQ's, from their sources as they are sent.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { luaSource } from '../../src/store/scripts/script.js';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

let names: Map<string, string> | undefined;

/** sha → `sy:<name>` or `bullmq:<name>`. */
export function scriptNames(): Map<string, string> {
  if (names) return names;
  names = new Map();
  const dirs = [new URL('../../src/store/scripts/lua/', import.meta.url), new URL('../../src/calls/admission/lua/', import.meta.url)];
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.lua'))) {
      const name = f.slice(0, -4);
      names.set(sha1(luaSource(name, dir)), `sy:${name}`);
    }
  }
  const require = createRequire(import.meta.url);
  const bull = require('bullmq/dist/cjs/scripts/index.js') as Record<string, { name: string; content: string }>;
  for (const s of Object.values(bull)) names.set(sha1(s.content), `bullmq:${s.name}`);
  return names;
}
