/**
 * `npm start`: the API and every worker pool in one process (`--api-only` for the API alone).
 */
import { boot, handleSignals } from './bootstrap.js';
import { loadConfig } from './config/env.js';
import { ConfigError } from './errors/index.js';
import { createLogger } from './logger.js';

const apiOnly = process.argv.includes('--api-only');
try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const running = await boot(config, { api: true, workers: !apiOnly }, logger);
  handleSignals(running, logger);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`switchyard: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}
