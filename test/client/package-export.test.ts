/**
 * `import { createClient } from 'switchyard/client'` resolves, after `npm run build`, to what the
 * build emits for src/client/index.ts (its JavaScript and its declarations), and the client's
 * JavaScript imports nothing of the server: only types cross from src/api and src/model.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const json = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8')) as Record<string, any>;

describe('switchyard/client', () => {
  it('is exported where the build writes src/client/index.ts, with its types', () => {
    const build = json('tsconfig.build.json');
    const base = json('tsconfig.json');
    const outDir = (build.compilerOptions.outDir ?? base.compilerOptions.outDir) as string;
    expect(base.compilerOptions.rootDir).toBe('.');
    expect(build.compilerOptions.declaration).toBe(true);
    expect(build.include).toContain('src');
    expect(json('package.json').exports['./client']).toEqual({
      types: `./${outDir}/src/client/index.d.ts`,
      default: `./${outDir}/src/client/index.js`,
    });
  });

  it('imports only types from outside src/client', () => {
    const dir = join(root, 'src', 'client');
    const runtime = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        [...readFileSync(join(dir, f), 'utf8').matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)]
          .map((m) => m[1]!)
          .filter((from) => !from.startsWith('./'))
          .map((from) => `${f}: ${from}`),
      );
    expect(runtime).toEqual([]);
  });
});
