/**
 * The audit log's vocabulary: who did what, when, from where. An entry names the workspace it
 * concerns (a refused credential: the workspace the request claimed, or `default`), so an
 * operator can read one workspace's history and MongoDB documents stay scoped.
 */
import { z } from 'zod';

export const AUDIT_ACTIONS = [
  'run.submitted',
  'run.cancelled',
  'run.rerun',
  'approval.given',
  'approval.refused',
  'schedule.changed',
  'schedule.removed',
  'agent.created',
  'agent.changed',
  'agent.removed',
  'agent.tested',
  'key.created',
  'key.revoked',
  'envelope.changed',
  'envelope.removed',
  'envelope.warning',
  'credential.refused',
  'workspace.limits_changed',
  'webhook.created',
  'webhook.removed',
  'session.created',
  'session.deleted',
  'secret.set',
  'secret.removed',
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

export const AuditEntry = z.object({
  /** The entry's id in the audit stream (`<ms>-<seq>`): its order. */
  id: z.string(),
  /** When (ISO). */
  at: z.string(),
  action: AuditAction,
  workspace: z.string(),
  /** Who: the credential's kind and id (a key id, a token's `sub`; never the credential). */
  actor: z.object({ kind: z.string(), id: z.string() }),
  /** From where: the client's address. */
  ip: z.string().optional(),
  /** What it acted on: a run id, a schedule id, a key id, an agent name, a path. */
  target: z.string().optional(),
  /** What else tells the story (the status of a refusal, a key's scopes...). Never a secret. */
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;
