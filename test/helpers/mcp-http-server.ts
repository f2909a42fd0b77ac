/**
 * The tests' MCP server over streamable HTTP, in process, on a free port: one SDK transport
 * per session. `dropSessions()` forgets every session, as a restarted server would: the next
 * request of a client that had one is answered 404.
 */
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildMcpServer } from '../fixtures/mcp-tools.js';

export interface McpHttpServer {
  url: string;
  /** Sessions opened so far. */
  sessionsOpened(): number;
  dropSessions(): Promise<void>;
  close(): Promise<void>;
}

export async function startMcpHttpServer(): Promise<McpHttpServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let opened = 0;
  const server: Server = createServer((req, res) => {
    const sid = req.headers['mcp-session-id'];
    const transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!transport && sid !== undefined) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
      return;
    }
    if (!transport) {
      const t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          opened++;
          sessions.set(id, t);
        },
      });
      t.onclose = () => {
        if (t.sessionId) sessions.delete(t.sessionId);
      };
      void buildMcpServer((info) => String(info?.headers.authorization ?? '(none)'))
        .connect(t)
        .then(() => t.handleRequest(req, res));
      return;
    }
    void transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dropSessions = async () => {
    const all = [...sessions.values()];
    sessions.clear();
    await Promise.all(all.map((t) => t.close()));
  };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    sessionsOpened: () => opened,
    dropSessions,
    async close() {
      await dropSessions();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
