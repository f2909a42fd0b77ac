import { defineConfig } from 'vitest/config';

/** Files that need a module graph of their own: they replace a module (vi.mock) the others use as it is. */
const ISOLATED = ['test/process/boot.test.ts'];

export default defineConfig({
  test: {
    // Fails a file that leaves keys under a prefix it made.
    setupFiles: ['test/helpers/leak-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Each file uses its own Redis prefix, so files may run side by side.
    fileParallelism: true,
    // Three files at once on two cores: most of a file's time is waiting (timers, child processes, Redis).
    maxWorkers: 3,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
          exclude: ISOLATED,
          // The files of one worker share its loaded modules (the SDKs, BullMQ, the whole of src/):
          // loaded once per worker, not once per file. Each file still closes what it opened
          // (test/helpers/leak-check.ts), and none changes process.env or a module's exports.
          isolate: false,
        },
      },
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
    ],
  },
});
