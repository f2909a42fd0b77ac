/**
 * How a test starts one of this repository's TypeScript files as a process of its own (a
 * worker, the server, a CLI, a fixture server). `npm test` compiles the repository first, into
 * the folder SWITCHYARD_TEST_BUILD names (its type check and this build are one `tsc`), and the
 * process runs that file's JavaScript there: loading the source through tsx costs a second or
 * so a process here, and the suite starts about forty. Without it (`npx vitest` on its own,
 * nothing built) the process runs the source through tsx, as `npm start` does.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Node's arguments that run `file` (a .ts file of this repository, absolute or from its root). */
export function nodeArgs(file: string): string[] {
  const build = process.env.SWITCHYARD_TEST_BUILD;
  if (!build) return ['--import', 'tsx', file];
  const compiled = path.join(ROOT, build, path.relative(ROOT, path.resolve(ROOT, file)).replace(/\.ts$/, '.js'));
  if (!existsSync(compiled)) throw new Error(`${compiled} is not built: npm test compiles the repository into ${build} before it runs the tests`);
  return [compiled];
}
