/**
 * `npm run start:workers -- --agents research,content`: worker pools only (all agents when
 * --agents is omitted). Run as many of these processes as you like, on any machine.
 */
import { parseArgs } from 'node:util';
import { startProcess } from '../src/bootstrap.js';

const { values } = parseArgs({ options: { agents: { type: 'string' } }, strict: true });
const agents = values.agents
  ?.split(',')
  .map((a) => a.trim())
  .filter(Boolean);
await startProcess({ api: false, workers: agents && agents.length ? agents : true });
