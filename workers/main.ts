/**
 * `npm run start:workers -- --agents research,content`: worker pools only (all agents when
 * --agents is omitted). Run as many of these processes as you like, on any machine.
 */
import { parseArgs } from 'node:util';
import { boot, handleSignals } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/env.js';
import { ConfigError } from '../src/errors/index.js';
import { createLogger } from '../src/logger.js';

const { values } = parseArgs({ options: { agents: { type: 'string' } }, strict: true });
const agents = values.agents
  ?.split(',')
  .map((a) => a.trim())
  .filter(Boolean);
try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const running = await boot(config, { api: false, workers: agents && agents.length ? agents : true }, logger);
  handleSignals(running, logger);
} catch (err) {
  if (err instanceof ConfigError || (err as Error).name === 'ValidationError') {
    console.error(`switchyard: ${(err as Error).message}`);
    process.exit(78);
  }
  throw err;
}
