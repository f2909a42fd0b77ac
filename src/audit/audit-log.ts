/**
 * The audit log: a capped Redis stream per cell (entries older than the run retention are
 * trimmed as new ones come, as run events are), copied to MongoDB through the outbox in the
 * same transaction, so it has the run events' durability. Read by GET /v1/audit (admins).
 */
import type { Redis } from 'ioredis';
import { keys } from '../store/keys.js';
import type { Cell } from '../store/scope.js';
import { AuditEntry, type AuditAction } from '../model/audit.js';

/** One thing to record; the log adds its id and time. */
export type AuditRecord = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditFilter {
  workspace?: string | undefined;
  action?: AuditAction | undefined;
  /** An actor's id (a key id, a token's sub). */
  actor?: string | undefined;
  /** Only entries at or after this time (ISO). */
  since?: string | undefined;
  /** Only entries before this entry id (the previous page's `next`). */
  before?: string | undefined;
  /** Most entries answered. */
  limit: number;
}

/** How many stream entries one listing reads at most to fill its page (filters skip the rest). */
const SCAN_MAX = 5000;

export class AuditLog {
  constructor(private readonly deps: { redis: Redis; cell: Cell; retentionSeconds: number; outbox: boolean }) {}

  /** Append an entry (and its outbox copy when MongoDB is configured); returns it. */
  async record(what: AuditRecord): Promise<AuditEntry> {
    const { redis, cell, retentionSeconds, outbox } = this.deps;
    const at = new Date();
    const minId = `${at.getTime() - retentionSeconds * 1000}-0`;
    const body = JSON.stringify({ ...what, at: at.toISOString() });
    const id = await redis.xadd(keys.audit(cell), 'MINID', '~', minId, '*', 'e', body);
    const entry = AuditEntry.parse({ ...what, id: String(id), at: at.toISOString() });
    if (outbox) await redis.xadd(keys.outbox(cell), '*', 'kind', 'audit', 'id', `${cell.tag}.${id}`, 'doc', JSON.stringify(entry));
    return entry;
  }

  /** Entries newest first, filtered; `next` continues the listing when there may be more. */
  async list(filter: AuditFilter): Promise<{ entries: AuditEntry[]; next?: string }> {
    const { redis, cell } = this.deps;
    const entries: AuditEntry[] = [];
    let end = filter.before ? `(${filter.before}` : '+';
    const start = filter.since ? `${Date.parse(filter.since)}-0` : '-';
    let scanned = 0;
    while (entries.length < filter.limit && scanned < SCAN_MAX) {
      const page = await redis.xrevrange(keys.audit(cell), end, start, 'COUNT', 200);
      if (page.length === 0) return { entries };
      for (const [id, fields] of page) {
        scanned++;
        const entry = parse(id, fields);
        if (entry && matches(entry, filter)) entries.push(entry);
        end = `(${id}`;
        if (entries.length === filter.limit) return { entries, next: id };
      }
    }
    return scanned >= SCAN_MAX ? { entries, next: end.slice(1) } : { entries };
  }
}

function parse(id: string, fields: string[]): AuditEntry | undefined {
  const i = fields.indexOf('e');
  if (i < 0 || fields[i + 1] === undefined) return undefined;
  try {
    const parsed = AuditEntry.safeParse({ ...(JSON.parse(fields[i + 1]!) as object), id });
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const matches = (e: AuditEntry, f: AuditFilter): boolean =>
  (f.workspace === undefined || e.workspace === f.workspace) &&
  (f.action === undefined || e.action === f.action) &&
  (f.actor === undefined || e.actor.id === f.actor);
