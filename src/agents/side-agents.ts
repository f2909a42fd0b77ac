/**
 * The workspace agents of one side of a process (system.ts builds one per side): their records
 * on the side's run-state connection; the API's side also calls agents for their tests
 * (POST /v1/agents/:name/test) through a call pipeline of its own.
 */
import type { Redis } from 'ioredis';
import { RedisLimiter } from '../calls/admission/limiter.js';
import type { BudgetLedger } from '../calls/admission/budget-gate.js';
import { CallPipeline } from '../calls/pipeline.js';
import type { Config } from '../config/env.js';
import type { Logger } from '../logger.js';
import { AgentRecords } from '../store/agent-records.js';
import type { Cell } from '../store/scope.js';
import type { Keyring } from './keyring.js';
import type { AgentRegistry } from './registry.js';
import { WorkspaceAgents } from './workspace-agents.js';

const NO_PROVIDER_KEYS: Config['providers'] = { anthropic: { apiKey: undefined, baseURL: undefined }, openai: { apiKey: undefined, baseURL: undefined } };

export interface SideAgentsOptions {
  /** The side's connection for queues and the limiter, and the one for run state (the records). */
  redis: Redis;
  stateRedis: Redis;
  cell: Cell;
  /** Where the shared limiter's keys are (the global slot). */
  global: Cell;
  shared: AgentRegistry;
  keyring: Keyring;
  /** Run budgets' reservations (the side's store's budgets). */
  ledger: BudgetLedger;
  logger: Logger;
  maxPauseMs?: number | undefined;
  /** The deployment's provider keys (used by a workspace agent without a key of its own). @default none */
  providers?: Config['providers'] | undefined;
  /** Build the pipeline of test calls (the API's side). */
  testCalls?: boolean;
  /** A record read or write without a reply fails at once (the API's side: a 503). */
  failFast?: boolean;
}

export function sideAgents(o: SideAgentsOptions): WorkspaceAgents {
  const testCalls = o.testCalls
    ? new CallPipeline({
        limiter: new RedisLimiter(o.redis, o.global.tag, o.shared.limits),
        plan: o.shared.limits,
        ledger: o.ledger,
        cell: o.cell,
        prices: o.shared.prices,
        logger: o.logger,
        maxPauseMs: o.maxPauseMs,
      })
    : undefined;
  return new WorkspaceAgents({
    records: new AgentRecords(o.stateRedis, o.failFast),
    shared: o.shared,
    keyring: o.keyring,
    config: { providers: o.providers ?? NO_PROVIDER_KEYS },
    ...(testCalls ? { providerFor: (agent) => testCalls.forAgent(agent) } : {}),
  });
}
