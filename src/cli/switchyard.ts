/** The `switchyard` command's entry (bin/switchyard.js loads it): run the CLI, exit with its code. */
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
// A server (serve, workers) runs on, and exits through its signal handling; every other command ends here.
if (code !== undefined) process.exit(code);
