/**
 * `{{ secrets.NAME }}` in a tool's URL and header values: filled in at call time with the
 * secrets of the step's workspace. Only this form is filled; a missing secret fails the call
 * naming the secret (never a value). The values filled in are handed back, so the caller can
 * keep them out of every message and result.
 */
import { NonRetryableError } from '../errors/index.js';
import type { SecretLookup } from './tool.js';

const SECRET_REF = /\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** A `{{ secrets.NAME }}` the workspace does not have. */
export class MissingSecretError extends NonRetryableError {
  constructor(
    readonly secret: string,
    readonly workspace: string,
  ) {
    super(`the secret "${secret}" is not set in workspace "${workspace}" (PUT /v1/workspaces/${workspace}/secrets/${secret})`);
  }
}

/** The names of the secrets `text` refers to. */
export function secretNamesIn(text: string): string[] {
  return [...text.matchAll(SECRET_REF)].map((m) => m[1]!);
}

/** The secrets that `texts` name, opened once each (MissingSecretError for the first one not set). */
export function openSecrets(texts: readonly string[], workspace: string, lookup: SecretLookup): Promise<Map<string, string>> {
  return openNamed([...new Set(texts.flatMap(secretNamesIn))], workspace, lookup);
}

/** The secrets `names` of `workspace`, opened (MissingSecretError for the first one not set). */
export async function openNamed(names: readonly string[], workspace: string, lookup: SecretLookup): Promise<Map<string, string>> {
  const values = await Promise.all(names.map((name) => lookup(workspace, name)));
  const opened = new Map<string, string>();
  names.forEach((name, i) => {
    const value = values[i];
    if (value === undefined) throw new MissingSecretError(name, workspace);
    opened.set(name, value);
  });
  return opened;
}

/** `text` with each `{{ secrets.NAME }}` replaced by its value (through `encode`: encodeURIComponent in a URL). */
export function fillSecrets(text: string, opened: ReadonlyMap<string, string>, encode: (value: string) => string = (v) => v): string {
  return text.replace(SECRET_REF, (_m, name: string) => encode(opened.get(name) ?? ''));
}
