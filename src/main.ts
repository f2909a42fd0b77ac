/**
 * `npm start`: the API and every worker pool in one process (`--api-only` for the API alone).
 */
import { startProcess } from './bootstrap.js';

const apiOnly = process.argv.includes('--api-only');
await startProcess({ api: true, workers: !apiOnly });
