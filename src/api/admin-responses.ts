/**
 * The schemas of what the other routes answer (agents, schedules, workflows, keys, the audit
 * log, limits, health): the single source of truth for their answers, as responses.ts is for
 * the runs API.
 */
import { z } from 'zod';
import { ApiScope } from '../auth/principal.js';
import { CompiledWorkflow } from '../kinds/definition.js';
import { AuditEntry } from '../model/audit.js';
import { ProviderName } from '../model/agent.js';
import { Usage } from '../model/run.js';

/** An agent as GET /v1/agents shows it: its fields as in the agents file (never a key), where it comes from, whether a key of its own is set. */
export const AgentView = z.looseObject({
  name: z.string(),
  provider: ProviderName,
  model: z.string(),
  source: z.enum(['shared', 'workspace']),
  apiKey: z.literal('set').optional(),
  /** Only with `?include=prompts` (scope agents:write). */
  systemPrompt: z.string().optional(),
  version: z.number().int().optional(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type AgentView = z.infer<typeof AgentView>;

export const AgentList = z.object({ agents: z.array(AgentView) }).strict();

/** POST /v1/agents/:name/test. */
export const AgentTestAnswer = z
  .object({
    agent: z.string(),
    source: z.enum(['shared', 'workspace']),
    provider: z.string(),
    model: z.string(),
    text: z.string(),
    latencyMs: z.number(),
    usage: Usage.nullable(),
    fallbackReason: z.string().optional(),
  })
  .strict();

/** A schedule: its next firing (null: none planned), and whether a workflow file (`flows`) or the API made it. */
export const ScheduleView = z
  .object({
    id: z.string(),
    workflow: z.string(),
    cron: z.string(),
    tz: z.string(),
    input: z.record(z.string(), z.unknown()),
    next: z.string().nullable(),
    source: z.enum(['flows', 'api']),
  })
  .strict();
export type ScheduleView = z.infer<typeof ScheduleView>;

export const ScheduleList = z.object({ schedules: z.array(ScheduleView) }).strict();

export const WorkflowList = z.object({ workflows: z.array(CompiledWorkflow) }).strict();
/** POST /v1/workflows/validate: the workflow as compiled. */
export const WorkflowValidation = z.object({ valid: z.literal(true), workflow: CompiledWorkflow }).strict();

/** An API key as listed: never the key or its hash. */
export const KeyView = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    workspace: z.string(),
    scopes: z.array(ApiScope),
    createdAt: z.string(),
    expiresAt: z.string().optional(),
    revokedAt: z.string().optional(),
    status: z.enum(['active', 'expired', 'revoked']),
  })
  .strict();

/** POST /v1/keys: the key, shown this once. */
export const CreatedKey = KeyView.extend({ key: z.string() });
export const KeyList = z.object({ keys: z.array(KeyView) }).strict();

/** GET /v1/audit: newest first; `next` (pass it as `before`) when there may be more. */
export const AuditPage = z.object({ entries: z.array(AuditEntry), next: z.string().optional() }).strict();

const PausedScope = z
  .object({
    scope: z.string(),
    until: z.string(),
    probed: z.boolean(),
    quotaExhausted: z.boolean(),
    message: z.string().optional(),
    recoversAt: z.string().optional(),
  })
  .strict();
/** GET /v1/limits: the limiter scopes paused now, soonest to end first. */
export const PausedList = z.object({ paused: z.array(PausedScope) }).strict();
/** POST /v1/limits/:scope/resume. */
export const ResumeAnswer = z
  .object({
    resumed: z.literal(true),
    scope: z.string(),
    wasPausedUntil: z.string(),
    quotaExhausted: z.boolean(),
    queues: z.array(z.string()),
    woken: z.number().int(),
  })
  .strict();

/** GET /healthz: `starting` while the process starts (src/bootstrap.ts answers then), `ok` after. */
export const Liveness = z.object({ status: z.enum(['ok', 'starting']) }).strict();
/** GET /readyz: 200 `ready` or 503 `not_ready`, each check by name (503 `starting`, without checks, while the process starts); agents no worker serves and paused limiter scopes (they do not make it unready). */
export const Readiness = z
  .object({
    status: z.enum(['ready', 'not_ready', 'starting']),
    checks: z.record(z.string(), z.boolean()).optional(),
    unservedAgents: z.array(z.string()).optional(),
    pausedScopes: z.array(z.object({ scope: z.string(), until: z.string(), quotaExhausted: z.boolean() }).strict()).optional(),
  })
  .strict();

/** GET /v1/me: who the request acts as (never the credential). */
export const Me = z.object({ kind: z.string(), workspace: z.string(), scopes: z.array(ApiScope) }).strict();

/** GET and PUT /v1/workspaces/:id/limits. */
export { WorkspaceLimitsView as WorkspaceLimitsAnswer } from '../model/workspace-limits.js';
