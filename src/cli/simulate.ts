/**
 * `npm run simulate -- --port 4010 [--config sim.yaml | flags]`: the LLM simulator
 * (src/simulator) as a process, until SIGINT or SIGTERM. Exit code 2 on a bad flag or config,
 * said in one line; `--help` lists the flags.
 */
import { parseFlags, USAGE } from '../simulator/flags.js';
import { startSimulator } from '../simulator/server.js';

const parsed = parseFlags(process.argv.slice(2));
if ('help' in parsed) {
  process.stdout.write(`${USAGE}\n`);
} else if ('error' in parsed) {
  process.stderr.write(`simulate: ${parsed.error}\n`);
  process.exitCode = 2;
} else {
  const c = parsed.config;
  try {
    const sim = await startSimulator(c);
    const limits = [c.rpm ? `rpm ${c.rpm}` : '', c.tpm ? `tpm ${c.tpm}` : ''].filter(Boolean).join(', ') || 'no rate limits';
    process.stdout.write(
      `LLM simulator on ${sim.url}: Anthropic baseURL ${sim.anthropicBaseURL}, OpenAI baseURL ${sim.openaiBaseURL}${c.quirks === 'none' ? '' : ` (${c.quirks} quirks)`}; ${limits}; ` +
        `seed ${c.seed ?? 'random'}; counters at ${sim.url}/stats\n`,
    );
    const stop = () => void sim.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    // A port in use, an address that is not this machine's: one line.
    process.stderr.write(`simulate: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
