/**
 * Listing runs from the Redis indexes (RunRecords.list): a workspace's index of all its runs,
 * and one index per workflow, each a sorted set of run ids by creation time (ms).
 *
 * A workflow's index is kept by create-run.lua: pruned of runs created before the retention
 * period and expiring a retention period after its last run, so an index nobody lists (inline
 * workflows bring any number of names) does not grow. It is therefore complete only for runs
 * created since max(`wf-since`, now - retention): `wf-since` is when this workspace's first
 * run was indexed by workflow (runs of an earlier version are in the main index only). Runs
 * older than that (a run waiting at a gate past the retention period, or from before) are found
 * by reading the main index from there on, filtered by workflow: a bounded scan like any other.
 */
import type { Redis } from 'ioredis';
import { compactedRun, compactedSteps } from './compacted.js';
import { keys } from './keys.js';
import type { Scope } from './scope.js';
import { RUN_FIELDS } from './scripts/index.js';
import { decodeFields } from './store-context.js';
import { listedField, toSummary, type RunListInclude, type RunSummary } from '../model/run.js';

export interface ListFilter {
  /** Read and return these beside the summary (input and output can be large). */
  include?: readonly RunListInclude[];
  status?: string;
  workflow?: string;
  agent?: string;
  limit: number;
  cursor?: { score: number; id: string };
  /** Most index entries read (default 1000). */
  maxScan?: number;
}

export interface ListPage {
  runs: RunSummary[];
  next?: { score: number; id: string };
}

/** One stretch of an index: newest first, from `max` (inclusive, or `(x` exclusive) down to `min` (inclusive). */
interface Segment {
  index: string;
  max: string;
  min: string;
}

/** What one listing has read so far, across its segments. */
interface Scan {
  out: RunSummary[];
  scanned: number;
}

/** A page of runs, newest first: see the module header. */
export async function listRuns(redis: Redis, scope: Scope, retentionSeconds: number, filter: ListFilter): Promise<ListPage> {
  const main = keys.runIndex(scope);
  const scan: Scan = { out: [], scanned: 0 };
  const after = filter.cursor;
  if (!filter.workflow) return readSegment(redis, scope, { index: main, max: after ? String(after.score) : '+inf', min: '-inf' }, after, filter, scan);

  const since = await redis.get(keys.workflowIndexSince(scope));
  const floor = since === null ? undefined : Math.max(Number(since), Date.now() - retentionSeconds * 1000);
  if (floor !== undefined && (!after || after.score >= floor)) {
    const own = { index: keys.workflowRunIndex(scope, filter.workflow), max: after ? String(after.score) : '+inf', min: String(floor) };
    const page = await readSegment(redis, scope, own, after, filter, scan);
    // A page full, or the scan bound reached: the client goes on from there.
    if (page.next) return page;
    // Nothing of the workflow's own index left: the main index below it, now or on the next page
    // (a cursor at the floor before every id: the floor's own runs were read already).
    if (scan.scanned >= (filter.maxScan ?? 1000)) return { runs: scan.out, next: { score: floor, id: '' } };
    return readSegment(redis, scope, { index: main, max: `(${floor}`, min: '-inf' }, undefined, filter, scan);
  }
  // No run indexed by workflow yet, or past the floor: the main index, filtered.
  return readSegment(redis, scope, { index: main, max: after ? String(after.score) : '+inf', min: '-inf' }, after, filter, scan);
}

/**
 * Read `segment` after `after` until the page is full (`next`: its last run), the scan bound is
 * reached (`next`: the last entry read) or the segment ends (no `next`). Entries whose run is
 * gone are pruned from the index as they are met. The other filters (status, agent, and the
 * workflow on the main index) are applied to what is read.
 */
async function readSegment(redis: Redis, scope: Scope, segment: Segment, after: ListFilter['cursor'], filter: ListFilter, scan: Scan): Promise<ListPage> {
  const include = filter.include ?? [];
  const fields = RUN_FIELDS.filter((f) => listedField(f, include));
  // A compacted run's record is one field; its output, its output steps' (the steps field).
  const extra = include.includes('output') ? ['run', 'steps'] : ['run'];
  const maxScan = filter.maxScan ?? 1000;
  let max = segment.max;
  // Past entries of the cursor's score already read (all of a page's were: rare, same-ms runs).
  let offset = 0;
  for (;;) {
    if (scan.scanned >= maxScan) return { runs: scan.out, ...(after ? { next: after } : {}) };
    const want = Math.min(Math.max(50, filter.limit * 2), maxScan - scan.scanned);
    const page = await redis.zrevrangebyscore(segment.index, max, segment.min, 'WITHSCORES', 'LIMIT', offset, want);
    const entries: { id: string; score: number }[] = [];
    for (let i = 0; i < page.length; i += 2) entries.push({ id: page[i]!, score: Number(page[i + 1]) });
    if (entries.length === 0) return { runs: scan.out };
    // Same-score entries come in reverse order of id: those up to the cursor's were read.
    const ids = after ? entries.filter((e) => !(e.score === after!.score && e.id >= after!.id)) : entries;
    if (ids.length === 0) {
      offset += entries.length;
      continue;
    }
    offset = 0;
    const pipe = redis.pipeline();
    for (const { id } of ids) pipe.hmget(keys.run(scope, id), ...fields, ...extra);
    const rows = (await pipe.exec()) ?? [];
    const gone: string[] = [];
    const prune = () => (gone.length ? redis.zrem(segment.index, ...gone) : undefined);
    for (let i = 0; i < ids.length; i++) {
      const { id, score } = ids[i]!;
      scan.scanned++;
      const values = rows[i]?.[1] as (string | null)[] | undefined;
      const [compacted, stepsJson] = values?.slice(fields.length) ?? [];
      if (!values || (values[0] === null && !compacted)) {
        gone.push(id);
        continue;
      }
      const run = compacted
        ? toSummary(compactedRun(compacted, include.includes('output') ? compactedSteps(id, stepsJson) : undefined).run, include)
        : decodeFields<RunSummary>(values, fields);
      if (filter.status && run.status !== filter.status) continue;
      if (filter.workflow && run.workflow !== filter.workflow) continue;
      if (filter.agent && !run.agents.includes(filter.agent)) continue;
      scan.out.push(run);
      if (scan.out.length === filter.limit) {
        await prune();
        return { runs: scan.out, next: { score, id } };
      }
    }
    await prune();
    after = ids[ids.length - 1]!;
    max = String(after.score);
    if (entries.length < want) return { runs: scan.out };
    // Read as much as one page may: the client goes on from here.
    if (scan.scanned >= maxScan) return { runs: scan.out, next: after };
  }
}
