/**
 * Who a request acts as. A **principal** is what a credential (an API key, a JWT, an admin
 * session, or the open development mode) proves: a workspace and the scopes granted in it.
 * `admin` grants every scope, and is also the operator's: key management, the audit log, Bull
 * Board, /metrics and the limiter's pauses span every workspace of the deployment.
 */
import { z } from 'zod';
import { DEFAULT_WORKSPACE, WorkspaceId } from '../model/run.js';

export const API_SCOPES = ['runs:write', 'runs:read', 'schedules:write', 'agents:write', 'admin'] as const;
/** One permission a credential may carry. */
export const ApiScope = z.enum(API_SCOPES);
export type ApiScope = z.infer<typeof ApiScope>;

/** A workspace id a credential may be bound to (`default` included). */
export const CredentialWorkspace = z.union([z.literal(DEFAULT_WORKSPACE), WorkspaceId]);

/** How a principal proved itself. */
export type CredentialKind = 'key' | 'jwt' | 'session' | 'open';

export interface Principal {
  kind: CredentialKind;
  /** The key id, the token's `sub`, the session's key or token id; `open` in development mode. */
  id: string;
  workspace: string;
  scopes: readonly ApiScope[];
}

/** The principal of the open development mode: the default workspace, every scope. */
export const OPEN_PRINCIPAL: Principal = { kind: 'open', id: 'open', workspace: DEFAULT_WORKSPACE, scopes: API_SCOPES };

/** Does `principal` hold `scope` (directly, or through `admin`)? */
export const holds = (principal: Principal, scope: ApiScope): boolean => principal.scopes.includes(scope) || principal.scopes.includes('admin');

/** Comma- or space-separated scopes, each checked (an unknown one throws naming it). */
export function parseScopes(text: string | readonly string[]): ApiScope[] {
  const names = (typeof text === 'string' ? text.split(/[\s,]+/) : [...text]).filter(Boolean);
  const bad = names.filter((s) => !ApiScope.safeParse(s).success);
  if (bad.length)
    throw new Error(`unknown scope${bad.length > 1 ? 's' : ''} ${bad.map((s) => `"${s.slice(0, 40)}"`).join(', ')} (scopes: ${API_SCOPES.join(', ')})`);
  return [...new Set(names as ApiScope[])];
}
