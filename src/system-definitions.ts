/**
 * A System from agents and workflows given in code rather than files (tests, benchmarks,
 * embedding), built from a configuration.
 */
import { resolveAgents } from './agents/registry.js';
import { WorkflowCatalog } from './compile/catalog.js';
import { compileWorkflow } from './compile/compile.js';
import type { Config } from './config/env.js';
import type { CompiledWorkflow } from './kinds/definition.js';
import { SchemaChecker } from './lang/schema-checker.js';
import type { Logger } from './logger.js';
import type { RunArchive } from './query/run-queries.js';
import { System } from './system.js';
import { configuredOptions } from './system-parts.js';

export function systemFromDefinitions(opts: {
  config: Config;
  /** The `agents:` map of an agents file. */
  agents: Record<string, unknown>;
  /** The `pricing:` map of an agents file. */
  pricing?: Record<string, unknown>;
  /** The `providers:` map of an agents file (limits, breakers). */
  providers?: Record<string, unknown>;
  /** The `tools:` (HTTP tools) and `mcpServers:` maps of an agents file. */
  tools?: Record<string, unknown>;
  mcpServers?: Record<string, unknown>;
  /** Workflow definitions, as in flows/*.yaml. */
  workflows?: unknown[];
  /** Names them in error messages. */
  source: string;
  logger: Logger;
  outbox?: boolean;
  retentionSeconds?: number;
  /** Where runs past Redis retention are read from. */
  archive?: RunArchive;
  /** Safety delay of ref jobs, ms. Default 30 s. */
  refSafetyDelayMs?: number;
}): System {
  const registry = resolveAgents(
    {
      agents: opts.agents,
      ...(opts.pricing ? { pricing: opts.pricing } : {}),
      ...(opts.providers ? { providers: opts.providers } : {}),
      ...(opts.tools ? { tools: opts.tools } : {}),
      ...(opts.mcpServers ? { mcpServers: opts.mcpServers } : {}),
    },
    opts.config,
    `${opts.source} agents`,
  );
  const schemas = new SchemaChecker(opts.config.bounds);
  const named = new Map<string, CompiledWorkflow>();
  for (const def of opts.workflows ?? []) {
    const wf = compileWorkflow(def, { agents: registry.names(), source: opts.source, bounds: opts.config.bounds });
    named.set(wf.name, wf);
  }
  return new System({
    ...configuredOptions(opts.config),
    retentionSeconds: opts.retentionSeconds ?? opts.config.retentionSeconds,
    registry,
    workflows: new WorkflowCatalog(
      named,
      () => registry.names(),
      opts.config.bounds,
      (agent) => registry.get(agent),
      schemas,
    ),
    schemas,
    logger: opts.logger,
    outbox: opts.outbox ?? false,
    ...(opts.archive ? { archive: opts.archive } : {}),
    ...(opts.refSafetyDelayMs ? { refSafetyDelayMs: opts.refSafetyDelayMs } : {}),
  });
}
