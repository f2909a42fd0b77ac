import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // Fails a file that leaves keys under a prefix it made.
    setupFiles: ['test/helpers/leak-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Each file uses its own Redis prefix, so files may run side by side.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
