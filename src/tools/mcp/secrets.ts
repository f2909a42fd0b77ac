/**
 * `{{ secrets.NAME }}` in an MCP server's env or header values: a secret of the workspace the
 * step runs in, looked up when a connection is opened (through the tools' one secret template,
 * ../secret-template.ts). A server whose values hold one is single-tenant: it gets a
 * connection (a process, for stdio) per workspace.
 */
import { createHash } from 'node:crypto';
import type { McpServerSpec } from '../../model/tool.js';
import type { SecretLookup } from '../tool.js';
import { NonRetryableError } from '../../errors/index.js';
import { fillSecrets, MissingSecretError, openSecrets, secretNamesIn } from '../secret-template.js';

/** The values of a spec that may hold secrets: a stdio server's env, an HTTP server's headers. */
export function templatedValues(spec: McpServerSpec): Record<string, string> {
  return 'command' in spec ? spec.env : spec.headers;
}

/** Does the spec name a secret anywhere (one connection per workspace then)? */
export function usesSecrets(spec: McpServerSpec): boolean {
  return Object.values(templatedValues(spec)).some((v) => secretNamesIn(v).length > 0);
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
  const texts = Object.values(values);
  let opened: Map<string, string>;
  try {
    opened =
      workspace === undefined && texts.every((t) => secretNamesIn(t).length === 0)
        ? new Map<string, string>()
        : await openSecrets(texts, workspace ?? '', lookup);
  } catch (err) {
    if (!(err instanceof MissingSecretError)) throw err;
    throw new NonRetryableError(`MCP server "${server}" needs the secret "${err.secret}", which workspace "${err.workspace}" does not have`);
  }
  const filled = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fillSecrets(v, opened)]));
  const fingerprint = createHash('sha256').update(JSON.stringify(filled)).digest('hex');
  return { values: filled, secrets: [...opened.values()].filter((s) => s.length > 0), fingerprint };
}
