/**
 * A setup file (vitest.config.ts): after each test file, no key may be left under a prefix it
 * made (testPrefix), whoever wrote it: the file itself, a harness, or a child process it
 * started; and no schema thread may be left running. Its afterAll runs after the file's own (hooks run as a stack).
 * It runs for every file, also where the files of a worker share their modules (isolate: false).
 */
import { afterAll, expect } from 'vitest';
import { liveSchemaThreads } from '../../src/lang/schema-lane.js';
import { forgetPrefixes, keysLeft } from './redis.js';

afterAll(async () => {
  const left = [...(await keysLeft())].map(
    ([prefix, keys]) => `${prefix}: ${keys.length} keys (${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''})`,
  );
  forgetPrefixes();
  expect(left, 'keys this test file (or a process it started) left in Redis').toEqual([]);
  expect(liveSchemaThreads(), 'schema threads this test file left running (a SchemaChecker or System not closed)').toBe(0);
});
