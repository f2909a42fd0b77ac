/**
 * The worker process: `npm run start:workers -- --agents research,content` serves those agent
 * pools (all when --agents is omitted) and the internal workers. Run as many of these processes
 * as you like, on any machine; the execution engine they run lives in src/engine/.
 */
import { parseArgs } from 'node:util';
import { startProcess } from '../src/bootstrap.js';

const { values } = parseArgs({ options: { agents: { type: 'string' } }, strict: true });
const agents = values.agents
  ?.split(',')
  .map((a) => a.trim())
  .filter(Boolean);
await startProcess({ api: false, workers: agents && agents.length ? agents : true });
