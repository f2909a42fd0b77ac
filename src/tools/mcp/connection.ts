/**
 * One open connection to an MCP server (a stdio child process, or a streamable HTTP session)
 * through the SDK's Client: its tool list fetched once, its calls, whether it is still alive.
 * A connection that closed (the process exited, the session was dropped) is not reopened: the
 * slot that holds it opens another (slot.ts).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { NonRetryableError, RetryableError, toError } from '../../errors/index.js';
import { createTransport, type McpTransport, type TransportOptions } from './transport.js';
import { redactSecrets } from '../../net/redact.js';

/** A call that did not reach the server (the connection was closed, or the server no longer knew the session): safe to make again. */
export class NotSentError extends Error {}

const CLIENT_INFO = { name: 'switchyard', version: '1' };
/** Starting a server (a process may install itself first, as `npx` does) and listing its tools get at least this long, ms. */
const START_TIMEOUT_MS = 30_000;
const startTimeout = (o: TransportOptions): number => Math.max(o.spec.timeoutMs, START_TIMEOUT_MS);

export class McpConnection {
  private closed = false;
  private inflight = 0;
  private retired = false;
  private toolList: Promise<Tool[]> | undefined;

  private constructor(
    private readonly client: Client,
    private readonly transport: McpTransport,
    private readonly o: TransportOptions,
  ) {
    client.onclose = () => {
      this.closed = true;
    };
    client.onerror = (err) => o.logger.debug({ mcpServer: o.server, err: redactSecrets(err.message, o.secrets) }, 'mcp connection error');
  }

  /** Start the server (stdio) or open a session (HTTP), and initialize; an error names the server, never a secret. */
  static async open(o: TransportOptions): Promise<McpConnection> {
    const transport = createTransport(o);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    try {
      await client.connect(transport, { timeout: startTimeout(o) });
    } catch (err) {
      await client.close().catch(() => undefined);
      const e = toError(err);
      const what = 'command' in o.spec ? `start MCP server "${o.server}" (${o.spec.command})` : `reach MCP server "${o.server}"`;
      const message = `could not ${what}: ${redactSecrets(e.message, o.secrets)}`;
      // A command that does not exist, or a URL egress refuses: opening again cannot help.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof NonRetryableError) throw new NonRetryableError(message);
      throw new RetryableError(message);
    }
    return new McpConnection(client, transport, o);
  }

  get alive(): boolean {
    return !this.closed;
  }

  /** The stdio server's process id (null for HTTP, or once it exited). */
  get pid(): number | null {
    return this.transport instanceof StdioClientTransport && !this.closed ? this.transport.pid : null;
  }

  /** The server's tools (every page), asked once per connection. */
  tools(): Promise<Tool[]> {
    this.toolList ??= this.listAll().catch((err: unknown) => {
      this.toolList = undefined;
      throw new RetryableError(`could not list the tools of MCP server "${this.o.server}": ${redactSecrets(toError(err).message, this.o.secrets)}`);
    });
    return this.toolList;
  }

  private async listAll(): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.client.listTools(cursor ? { cursor } : undefined, { timeout: startTimeout(this.o) });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return tools;
  }

  /** Call a tool; NotSentError when the call certainly did not reach the server. */
  async call(name: string, args: Record<string, unknown>, opts: { signal: AbortSignal; timeoutMs: number }): Promise<CallToolResult> {
    if (this.closed) throw new NotSentError('connection closed');
    this.inflight++;
    try {
      return (await this.client.callTool({ name, arguments: args }, undefined, { signal: opts.signal, timeout: opts.timeoutMs })) as CallToolResult;
    } catch (err) {
      // An HTTP server answers 404 to a session it no longer has (restarted, expired): it ran nothing.
      if (err instanceof StreamableHTTPError && err.code === 404) {
        this.closed = true;
        throw new NotSentError('session not found');
      }
      throw err;
    } finally {
      this.inflight--;
      if (this.retired && this.inflight === 0) void this.close();
    }
  }

  /** Close once the calls in flight are done (a secret changed: a new connection takes over). */
  retire(): void {
    this.retired = true;
    if (this.inflight === 0) void this.close();
  }

  /** End the session (HTTP) and close; a stdio server is stopped (stdin closed, then SIGTERM, SIGKILL) and waited for. */
  async close(): Promise<void> {
    this.closed = true;
    if (!(this.transport instanceof StdioClientTransport)) await this.transport.terminateSession().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }
}
