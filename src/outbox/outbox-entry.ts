/**
 * An outbox stream entry read back: fields `kind` (`run`, `step`, `audit` or `conversation`),
 * `id`, `doc` (JSON), on a run's first entry `definition`, and on a deleted conversation's
 * `deleted`. A malformed entry is a reason to drop it.
 */
import { issuesFromZod, type ZodLikeIssue } from '../errors/index.js';
import { AuditEntry } from '../model/audit.js';
import { Conversation } from '../model/conversation.js';
import { RunRecord, StepRecord, type OutboxEntry } from '../model/run.js';

/** An entry of the outbox: a run or step record, or an audit entry. */
export type OutboxItem =
  OutboxEntry | { kind: 'audit'; id: string; doc: AuditEntry } | { kind: 'conversation'; id: string; doc: Conversation; deleted: boolean };

type Parsed = { ok: true; entry: OutboxItem } | { ok: false; reason: string };

function fieldMap(fields: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return map;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

export function parseEntry(fields: string[]): Parsed {
  const map = fieldMap(fields);
  const kind = map.get('kind');
  const doc = map.get('doc');
  if (kind !== 'run' && kind !== 'step' && kind !== 'audit' && kind !== 'conversation') return { ok: false, reason: `unknown kind ${JSON.stringify(kind)}` };
  if (doc === undefined) return { ok: false, reason: 'missing doc field' };
  const json = parseJson(doc);
  if (!json.ok) return { ok: false, reason: 'doc is not valid JSON' };
  if (kind === 'audit') {
    const audit = AuditEntry.safeParse(json.value);
    if (!audit.success) return { ok: false, reason: invalidRecord(kind, audit.error.issues) };
    return { ok: true, entry: { kind, id: map.get('id') ?? audit.data.id, doc: audit.data } };
  }
  if (kind === 'conversation') {
    const conversation = Conversation.safeParse(json.value);
    if (!conversation.success) return { ok: false, reason: invalidRecord(kind, conversation.error.issues) };
    const id = map.get('id') ?? `${conversation.data.workspaceId}/${conversation.data.id}`;
    return { ok: true, entry: { kind, id, doc: conversation.data, deleted: map.get('deleted') === '1' } };
  }
  if (kind === 'run') {
    const run = RunRecord.safeParse(json.value);
    if (!run.success) return { ok: false, reason: invalidRecord(kind, run.error.issues) };
    const def = map.get('definition');
    const definition = def === undefined || def === '' ? undefined : parseJson(def);
    if (definition !== undefined && !definition.ok) return { ok: false, reason: 'definition is not valid JSON' };
    return { ok: true, entry: { kind, id: map.get('id') ?? run.data.id, doc: run.data, ...(definition?.ok ? { definition: definition.value } : {}) } };
  }
  const step = StepRecord.safeParse(json.value);
  if (!step.success) return { ok: false, reason: invalidRecord(kind, step.error.issues) };
  const ws = map.get('ws');
  return { ok: true, entry: { kind, id: map.get('id') ?? `${step.data.runId}.${step.data.stepId}`, doc: step.data, ...(ws ? { workspaceId: ws } : {}) } };
}

function invalidRecord(kind: string, issues: readonly ZodLikeIssue[]): string {
  const details = issuesFromZod(issues, { emptyPath: '(root)' })
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
  return `doc is not a valid ${kind} record: ${details}`;
}
