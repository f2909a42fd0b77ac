/**
 * Where the pool keeps one server's connection for one tenant: the server's only one, or, for
 * a server whose spec names secrets, the one of a workspace. It opens the connection on first
 * use and again after it closed (a crashed process, a dropped session), replaces it when the
 * workspace's secrets changed, and makes a call again once, on a new connection, only when the
 * first certainly did not reach the server. A server that could not be opened is not tried
 * again for a while (1 s, doubling at each failure in a row up to 30 s): the calls meanwhile
 * fail at once with that failure, rather than each starting a process that fails too.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerSpec } from '../../model/tool.js';
import type { SecretLookup } from '../tool.js';
import type { Logger } from '../../logger.js';
import type { EgressConfig } from '../../config/egress-env.js';
import { RetryableError } from '../../errors/index.js';
import { McpConnection, NotSentError } from './connection.js';
import { resolveSecrets, templatedValues } from './secrets.js';

export interface SlotDeps {
  secrets: SecretLookup;
  egress: EgressConfig;
  logger: Logger;
}

interface Current {
  fingerprint: string;
  conn: Promise<McpConnection>;
}

/** How long a server that could not be opened is left alone: the first time, and at most, ms. */
export const OPEN_COOL_DOWN_MS = { first: 1000, most: 30_000 };

/** The last failure to open, while the slot waits before it tries again. */
interface Failed {
  error: unknown;
  until: number;
  waitMs: number;
}

export class ServerSlot {
  private current: Current | undefined;
  private failed: Failed | undefined;
  private closed = false;
  /** Connections replaced after a secret changed, closing once their calls are done. */
  private readonly retiring = new Set<McpConnection>();

  constructor(
    readonly server: string,
    readonly spec: McpServerSpec,
    /** The workspace whose secrets it uses; undefined: shared by every workspace. */
    private readonly workspace: string | undefined,
    private readonly deps: SlotDeps,
  ) {}

  /** The open connection, opening one if there is none, it closed, or its secrets changed. */
  async connection(): Promise<McpConnection> {
    const resolved = await resolveSecrets(this.server, templatedValues(this.spec), this.workspace, this.deps.secrets);
    for (;;) {
      if (this.closed) throw new RetryableError(`MCP server "${this.server}" is closed: the process is shutting down`);
      const cur = this.current;
      if (!cur || cur.fingerprint !== resolved.fingerprint) {
        if (cur)
          void cur.conn.then(
            (c) => this.retire(c),
            () => undefined,
          );
        if (this.failed && Date.now() < this.failed.until) throw this.failed.error;
        const opts = {
          server: this.server,
          spec: this.spec,
          values: resolved.values,
          secrets: resolved.secrets,
          egress: this.deps.egress,
          logger: this.deps.logger,
        };
        const entry: Current = { fingerprint: resolved.fingerprint, conn: McpConnection.open(opts) };
        this.current = entry;
        entry.conn.then(
          () => {
            this.failed = undefined;
          },
          (error: unknown) => {
            if (this.current === entry) this.current = undefined;
            const waitMs = this.failed ? Math.min(this.failed.waitMs * 2, OPEN_COOL_DOWN_MS.most) : OPEN_COOL_DOWN_MS.first;
            this.failed = { error, until: Date.now() + waitMs, waitMs };
          },
        );
        return entry.conn;
      }
      const conn = await cur.conn;
      if (conn.alive) return conn;
      if (this.current === cur) {
        this.current = undefined;
        void conn.close();
        this.deps.logger.info({ mcpServer: this.server }, 'mcp server connection closed; opening a new one');
      }
    }
  }

  private retire(conn: McpConnection): void {
    this.retiring.add(conn);
    conn.retire();
  }

  async tools(): Promise<Tool[]> {
    return (await this.connection()).tools();
  }

  /** Call a tool; made again once on a new connection if the first did not reach the server. */
  async call(tool: string, args: Record<string, unknown>, opts: { signal: AbortSignal; timeoutMs: number }): Promise<CallToolResult> {
    const conn = await this.connection();
    try {
      return await conn.call(tool, args, opts);
    } catch (err) {
      if (!(err instanceof NotSentError)) throw err;
      return (await this.connection()).call(tool, args, opts).catch((again: unknown) => {
        throw again instanceof NotSentError ? new RetryableError(`MCP server "${this.server}" closed before the call could be sent, twice`) : again;
      });
    }
  }

  /** The stdio server's process id, if it runs. */
  async pid(): Promise<number | null> {
    const conn = await this.current?.conn.catch(() => undefined);
    return conn?.pid ?? null;
  }

  /** Close the connection and open none again. */
  async close(): Promise<void> {
    this.closed = true;
    const conn = await this.current?.conn.catch(() => undefined);
    this.current = undefined;
    await Promise.all([conn?.close(), ...[...this.retiring].map((c) => c.close())]);
  }
}
