/**
 * The SDK transport of a server spec: a child process over stdio (its environment only the
 * SDK's safe defaults, PATH and HOME..., plus the spec's `env`: never this process's own
 * keys), or streamable HTTP with the spec's headers, each of its requests to a URL the
 * deployment's egress rules allow (src/net/egress.ts: checked before it is sent, as for HTTP
 * tools; the SDK follows a redirect only within the same origin). A stdio server's stderr is
 * logged at debug, secret values replaced.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { EgressConfig } from '../../config/egress-env.js';
import type { McpServerSpec } from '../../model/tool.js';
import type { Logger } from '../../logger.js';
import { checkEgress } from '../../net/egress.js';
import { redactSecrets } from '../../net/redact.js';

export type McpTransport = StdioClientTransport | StreamableHTTPClientTransport;

export interface TransportOptions {
  server: string;
  spec: McpServerSpec;
  /** The spec's env (stdio) or headers (HTTP), secrets filled in. */
  values: Record<string, string>;
  /** The secret values among them (replaced in what is logged). */
  secrets: readonly string[];
  /** Where an HTTP server may be reached. */
  egress: EgressConfig;
  logger: Logger;
}

/** fetch, after the egress check of the request's URL (an EgressRefusedError otherwise). */
function egressChecked(egress: EgressConfig): FetchLike {
  return async (url, init) => {
    await checkEgress(new URL(url), egress);
    return fetch(url, init);
  };
}

export function createTransport(o: TransportOptions): McpTransport {
  if (!('command' in o.spec)) {
    return new StreamableHTTPClientTransport(new URL(o.spec.url), { requestInit: { headers: o.values }, fetch: egressChecked(o.egress) });
  }
  const transport = new StdioClientTransport({ command: o.spec.command, args: o.spec.args, env: o.values, cwd: o.spec.cwd, stderr: 'pipe' });
  const stderr = transport.stderr as Readable | null;
  if (stderr) {
    createInterface({ input: stderr }).on('line', (line) => o.logger.debug({ mcpServer: o.server, line: redactSecrets(line, o.secrets) }, 'mcp server stderr'));
  }
  return transport;
}
