/**
 * What a worker process knows of the workspaces' own agents (created over the API) while it
 * runs: the cell's index of them (src/store/agent-records.ts), read at start, again on each
 * change told on the agents channel, and every `refreshMs` (a message missed while Redis was
 * away is caught up). For each name it makes sure the agent queue is served (a worker started
 * before the agent was created runs it), with the most steps at once any workspace asked of an
 * agent of that name. A step reads its workspace's agents as it begins (`agentsFor`), so a
 * changed agent takes effect for the steps started after the change.
 */
import type { AgentRegistry } from '../agents/registry.js';
import type { WorkspaceAgents } from '../agents/workspace-agents.js';
import type { CompiledStep } from '../kinds/definition.js';
import type { Logger } from '../logger.js';
import type { Cell, Scope } from '../store/scope.js';

export interface WorkspaceAgentsWatchDeps {
  agents: WorkspaceAgents;
  /** The shared agents (their queues are served by the shared pools). */
  shared: AgentRegistry;
  cell: Cell;
  logger: Logger;
  /** Serve the queue of agent `name` with `concurrency` steps at once (start its worker, or change its concurrency). */
  serve: (name: string, concurrency: number) => Promise<void>;
  /** How often the index is read again without a message, ms. @default 30000 */
  refreshMs?: number;
}

export class WorkspaceAgentsWatch {
  /** Workspaces with agents of their own (their steps read them as they begin). */
  private owners = new Set<string>();
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  /** Between start() and stop(): a message before start is read by start itself; after stop, none starts a worker. */
  private live = false;

  constructor(private readonly deps: WorkspaceAgentsWatchDeps) {}

  /** Read the index and serve its agents; then every `refreshMs`. */
  async start(): Promise<void> {
    this.live = true;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.deps.refreshMs ?? 30_000);
    this.timer.unref();
  }

  /** No more reads; resolves once the one under way (and the workers it starts) is done. */
  async stop(): Promise<void> {
    this.live = false;
    clearInterval(this.timer);
    await this.reading;
  }

  /** Read the index again (a message came): one read at a time, one more if asked meanwhile. */
  refresh(): Promise<void> {
    if (!this.live) return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.read()
      .catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'could not read the workspace agents'))
      .finally(() => {
        this.reading = undefined;
        if (this.again) {
          this.again = false;
          void this.refresh();
        }
      });
    return this.reading;
  }

  private async read(): Promise<void> {
    const { agents, cell, shared, serve } = this.deps;
    const entries = await agents.index(cell);
    this.owners = new Set(entries.map((e) => e.workspace));
    const most = new Map<string, number>();
    for (const e of entries) if (!shared.isShared(e.name)) most.set(e.name, Math.max(most.get(e.name) ?? 1, e.concurrency));
    for (const [name, concurrency] of most) if (this.live) await serve(name, concurrency);
  }

  /**
   * The agents a step of `scope` sees: the shared ones alone (no read) when its workspace has
   * none of its own and the step's agent is a shared one; otherwise read now.
   */
  agentsFor(scope: Scope, step: CompiledStep): Promise<AgentRegistry> | AgentRegistry {
    const own = this.owners.has(scope.workspace) || (step.agent !== undefined && this.deps.shared.get(step.agent) === undefined);
    return own ? this.deps.agents.registryFor(scope) : this.deps.shared;
  }
}
