/** `npm run keys -- ...`: API keys from a shell (src/cli/keys-command.ts; also `switchyard keys ...`). */
import { keysCommand } from './keys-command.js';

try {
  process.exitCode = await keysCommand(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 2;
}
