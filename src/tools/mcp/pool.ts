/**
 * The MCP servers of a process (one pool per process): each started or connected to on its
 * first use, its connection reused by every step, opened again after it closed, and closed
 * when the process shuts down. A server whose spec names secrets gets one connection per
 * workspace (its secrets are the workspace's); one without, one shared by all.
 *
 * `tools(ref, workspace)` is what an agent's toolbox asks: `server` (all its tools) or
 * `server/tool` (that one).
 */
import type { McpServerSpec } from '../../model/tool.js';
import type { AgentTool, SecretLookup } from '../tool.js';
import type { Logger } from '../../logger.js';
import type { EgressConfig } from '../../config/egress-env.js';
import { DEV_EGRESS } from '../http-source.js';
import { NonRetryableError, RetryableError } from '../../errors/index.js';
import { ServerSlot } from './slot.js';
import { usesSecrets } from './secrets.js';
import { offeredNames } from './names.js';
import { mcpApprovalRule } from '../approval.js';
import { mcpTool } from './mcp-tool.js';

export interface McpPoolOptions {
  /** The agents file's `mcpServers`. */
  servers: Readonly<Record<string, McpServerSpec>>;
  /** Fills in `{{ secrets.NAME }}` of env and header values, from the step's workspace. */
  secrets: SecretLookup;
  /** Where a server over HTTP may be reached (default: any host but link-local and metadata ones). */
  egress?: EgressConfig;
  logger: Logger;
}

export class McpPool {
  private readonly slots = new Map<string, ServerSlot>();
  private closing = false;

  constructor(private readonly opts: McpPoolOptions) {}

  /** The tools `ref` names, for a step of `workspace`: the server is started (or reached) if it is not yet. */
  async tools(ref: string, workspace: string): Promise<AgentTool[]> {
    const cut = ref.indexOf('/');
    const server = cut < 0 ? ref : ref.slice(0, cut);
    const only = cut < 0 ? undefined : ref.slice(cut + 1);
    const slot = this.slot(server, workspace);
    const list = await slot.tools();
    const names = offeredNames(
      server,
      list.map((t) => t.name),
    );
    const chosen = only === undefined ? list : list.filter((t) => t.name === only);
    if (only !== undefined && chosen.length === 0) {
      const has = list.map((t) => t.name);
      const shown = has.length > 20 ? `${has.slice(0, 20).join(', ')}, ...` : has.join(', ');
      throw new NonRetryableError(`MCP server "${server}" has no tool "${only}" (it has: ${shown || 'none'})`);
    }
    return chosen.map((t) => mcpTool(slot, t, names.get(t.name)!, mcpApprovalRule(server, slot.spec, t.name)));
  }

  /** The process ids of the stdio servers running now (operations, tests). */
  async pids(): Promise<number[]> {
    const pids = await Promise.all([...this.slots.values()].map((s) => s.pid()));
    return pids.filter((p): p is number => p !== null);
  }

  /** Close every connection: stdio servers are stopped and waited for. Nothing is opened after. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.slots.values()].map((s) => s.close()));
  }

  private slot(server: string, workspace: string): ServerSlot {
    if (this.closing) throw new RetryableError(`MCP server "${server}" is closed: the process is shutting down`);
    const spec = Object.hasOwn(this.opts.servers, server) ? this.opts.servers[server] : undefined;
    if (!spec) throw new NonRetryableError(`no MCP server "${server}" in the agents file's mcpServers`);
    const tenant = usesSecrets(spec) ? workspace : undefined;
    const key = tenant === undefined ? server : `${server}\u0000${tenant}`;
    let slot = this.slots.get(key);
    if (!slot) {
      slot = new ServerSlot(server, spec, tenant, { secrets: this.opts.secrets, egress: this.opts.egress ?? DEV_EGRESS, logger: this.opts.logger });
      this.slots.set(key, slot);
    }
    return slot;
  }
}
