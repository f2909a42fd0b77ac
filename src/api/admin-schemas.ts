/**
 * The request schemas of the operator's routes (API keys, the audit log): the single source of
 * truth for their validation, as schemas.ts is for the runs API.
 */
import { z } from 'zod';
import { parseDuration } from '../auth/api-keys.js';
import { API_SCOPES, ApiScope, CredentialWorkspace } from '../auth/principal.js';
import { AuditAction } from '../model/audit.js';
import { Envelope } from '../model/envelope.js';

/** Scopes as a list, or one comma-separated string (as the CLI takes them). */
const Scopes = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v),
  z.array(ApiScope, { error: `must be a list of scopes (${API_SCOPES.join(', ')})` }).min(1, 'must name at least one scope'),
);

/** A duration such as `30d` (how long until it expires). */
const Duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** POST /v1/keys: a new API key (shown once in the answer). */
export const CreateKeyBody = z
  .object({
    workspace: CredentialWorkspace,
    scopes: Scopes,
    /** How long it works: `30d`, `12h`... (none: until revoked). */
    expires: Duration.optional(),
    /** A label for people. */
    name: z.string().min(1).max(100).optional(),
    /** Its spend envelope: most USD its runs may spend per UTC day, all together (with its workspace's envelope). */
    maxCostUsdPerDay: Envelope.shape.maxCostUsdPerDay,
    /** Its spend envelope: most tokens its runs may use per UTC day. */
    maxTokensPerDay: Envelope.shape.maxTokensPerDay,
  })
  .strict();

/** GET /v1/keys. */
export const KeysQuery = z.object({ workspace: CredentialWorkspace.optional() }).strict();

/** DELETE /v1/keys/:id. */
export { KeyId } from '../auth/api-keys.js';

/** GET /v1/audit: newest first, filtered. */
export const AuditQuery = z
  .object({
    workspace: CredentialWorkspace.optional(),
    action: AuditAction.optional(),
    /** An actor's id: a key id, a token's `sub`. */
    actor: z.string().min(1).max(200).optional(),
    /** Entries at or after this time. */
    since: z.iso.datetime({ offset: true }).optional(),
    /** The `next` of the previous page. */
    before: z
      .string()
      .regex(/^\d{1,16}-\d{1,20}$/, 'must be the `next` of a previous page')
      .optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
