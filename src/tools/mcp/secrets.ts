/**
 * `{{ secrets.NAME }}` in an MCP server's env or header values: a secret of the workspace the
 * step runs in, looked up when a connection is opened. A server whose values hold one is
 * single-tenant: it gets a connection (a process, for stdio) per workspace.
 */
import { createHash } from 'node:crypto';
import type { McpServerSpec } from '../../model/tool.js';
import type { SecretLookup } from '../tool.js';
import { NonRetryableError } from '../../errors/index.js';

const SECRET = /\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

/** The values of a spec that may hold secrets: a stdio server's env, an HTTP server's headers. */
export function templatedValues(spec: McpServerSpec): Record<string, string> {
  return 'command' in spec ? spec.env : spec.headers;
}

/** Does the spec name a secret anywhere (one connection per workspace then)? */
export function usesSecrets(spec: McpServerSpec): boolean {
  return Object.values(templatedValues(spec)).some((v) => new RegExp(SECRET.source).test(v));
}

/** The names of the secrets the values hold. */
function secretNames(values: Record<string, string>): Set<string> {
  const names = new Set<string>();
  for (const v of Object.values(values)) for (const m of v.matchAll(SECRET)) names.add(m[1]!);
  return names;
}

/** Values with their secrets filled in, and the secret values (to keep them out of what is logged). */
export interface Resolved {
  values: Record<string, string>;
  secrets: string[];
  /** A hash of the filled-in values: a connection opened with other values (a secret changed) is replaced. */
  fingerprint: string;
}

/** Fill in the secrets of `workspace`; a missing one is an error naming it (never a value). */
export async function resolveSecrets(server: string, values: Record<string, string>, workspace: string | undefined, lookup: SecretLookup): Promise<Resolved> {
  const found = new Map<string, string>();
  for (const name of secretNames(values)) {
    const value = workspace === undefined ? undefined : await lookup(workspace, name);
    if (value === undefined) {
      throw new NonRetryableError(`MCP server "${server}" needs the secret "${name}", which workspace "${workspace ?? ''}" does not have`);
    }
    found.set(name, value);
  }
  const filled = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.replace(SECRET, (_, name: string) => found.get(name)!)]));
  const fingerprint = createHash('sha256').update(JSON.stringify(filled)).digest('hex');
  return { values: filled, secrets: [...found.values()].filter((s) => s.length > 0), fingerprint };
}

/** `text` with every secret value replaced (a server's stderr, an error message). */
export function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, s) => t.split(s).join('[secret]'), text);
}
