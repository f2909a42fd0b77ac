#!/usr/bin/env node
// The `switchyard` command. From a checkout (after `npm ci`) it runs the TypeScript source
// through tsx, as `npm start` does; where only the build is installed (`npm run build`, then
// `npm prune --omit=dev`, as in the Docker image) it runs dist/.
let tsx;
try {
  tsx = await import('tsx/esm/api');
} catch {
  tsx = undefined;
}
if (tsx) {
  tsx.register();
  await import('../src/cli/switchyard.ts');
} else {
  await import('../dist/src/cli/switchyard.js');
}
