// The npm registry this project installs from lacks the non-Linux builds of
// msgpackr-extract (an optional native speed-up of msgpackr, a BullMQ dependency), so
// `npm install` leaves them out of package-lock.json and `npm ci` then refuses the lock as
// out of sync. This adds the missing optional, platform-bound entries (never installed on
// Linux). Run `node .ci/fix-lock.cjs` after any `npm install` that rewrites the lock.
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const base = lock.packages['node_modules/msgpackr-extract'];
if (!base) process.exit(0);
let added = 0;
for (const [name, version] of Object.entries(base.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const [os, cpu] = name.replace('@msgpackr-extract/msgpackr-extract-', '').split('-');
  lock.packages[key] = { version, cpu: [cpu], license: 'MIT', optional: true, os: [os] };
  added++;
}
const sorted = {};
for (const k of Object.keys(lock.packages).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0))) sorted[k] = lock.packages[k];
lock.packages = sorted;
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: ${added} platform entr${added === 1 ? 'y' : 'ies'} added`);
