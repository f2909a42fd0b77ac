/**
 * Cron schedules as BullMQ job schedulers on the `schedules` queue. Schedules declared in
 * flows/ have ids `flow.<workflow>` and are synced at start-up (removed ones deleted);
 * others are managed over the API. A firing is an ordinary run (workers/schedule-processor).
 */
import type { JobSchedulerJson, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { whileReachable } from '../store/reachable.js';
import { DEFAULT_WORKSPACE, type Scope } from '../store/scope.js';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError, issuesFromZod } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { WorkflowCatalog } from '../compile/catalog.js';
import { validateRunInput } from '../compile/input.js';
import { assertRunBounds } from '../compile/run-bounds.js';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { JsonObject } from '../model/json.js';
import { FLOW_SCHEDULE_PREFIX, ScheduleId } from '../model/schedule.js';
import { cronProblem } from '../lang/cron.js';

export const ScheduleBody = z
  .object({
    workflow: z.string().min(1),
    cron: z.string().min(1),
    tz: z.string().min(1).default('UTC'),
    input: JsonObject.default({}),
  })
  .strict();
export type ScheduleBody = z.infer<typeof ScheduleBody>;

export interface ScheduleJobData {
  scheduleId: string;
  /** The workspace whose runs its firings start (absent in a scheduler of an earlier version: the default one). */
  workspaceId?: string;
  workflow: string;
  input: Record<string, unknown>;
  /** The API key that set the schedule (its id): its spend envelope holds the runs the firings start. */
  keyId?: string;
}

export interface ScheduleView {
  id: string;
  workflow: string;
  cron: string;
  tz: string;
  input: Record<string, unknown>;
  /** Next firing (ISO), or null when none is planned. */
  next: string | null;
  /** `flows` for schedules declared in a workflow file, `api` otherwise. */
  source: 'flows' | 'api';
}

/** Throws a ValidationError naming the field when the cron pattern or time zone is invalid. */
export function validateCron(cron: string, tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ValidationError(`invalid time zone "${tz}"`, [{ path: 'tz', message: `"${tz}" is not an IANA time zone (e.g. UTC, Europe/Paris)` }]);
  }
  const problem = cronProblem(cron, tz);
  if (problem) throw new ValidationError(`cron: ${problem}`, [{ path: 'cron', message: problem }]);
}

/** Throws a ValidationError naming `id` when a schedule id is not usable. */
function validateScheduleId(id: string): void {
  const res = ScheduleId.safeParse(id);
  if (res.success) return;
  const issues = issuesFromZod(res.error.issues, { root: 'id' });
  throw new ValidationError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
}

function assertNotFlowManaged(id: string): void {
  if (id.startsWith(FLOW_SCHEDULE_PREFIX)) {
    throw new ConflictError(`schedule "${id}" is declared in flows/ (the workflow's schedule block); change it there`);
  }
}

/**
 * The BullMQ scheduler id of a workspace's schedule: the default workspace's is its id (as
 * before workspaces), another's `ws~<workspace>~<id>` (`~` is in no schedule id), so two
 * workspaces' schedules of one id never meet.
 */
const schedulerId = (scope: Scope, id: string): string => (scope.workspace === DEFAULT_WORKSPACE ? id : `ws~${scope.workspace}~${id}`);

/** The workspace whose runs a scheduler's firings start (absent: the default one). */
const workspaceOf = (s: JobSchedulerJson): string => ((s.template?.data ?? {}) as Partial<ScheduleJobData>).workspaceId ?? DEFAULT_WORKSPACE;

function toView(s: JobSchedulerJson): ScheduleView {
  const data = (s.template?.data ?? {}) as Partial<ScheduleJobData>;
  const id = data.scheduleId ?? s.id ?? s.key;
  return {
    id,
    workflow: data.workflow ?? '',
    cron: s.pattern ?? '',
    tz: s.tz ?? 'UTC',
    input: data.input ?? {},
    next: s.next ? new Date(s.next).toISOString() : null,
    source: id.startsWith(FLOW_SCHEDULE_PREFIX) ? 'flows' : 'api',
  };
}

export class SchedulesService {
  constructor(
    private readonly deps: {
      queue: Queue;
      workflows: WorkflowCatalog;
      logger: Logger;
      /** The queue's connection (answers 503 while it is down). */
      redis: Redis;
      /** What each firing's run may become (checked once here, as a submit checks it). Default: the configuration's defaults. */
      bounds?: Bounds;
    },
  ) {}

  /** The schedules of `scope`'s workspace (another workspace's are never listed). */
  async list(scope: Scope): Promise<ScheduleView[]> {
    const all = await whileReachable(this.deps.redis, 'the listing', () => this.deps.queue.getJobSchedulers(0, -1, true));
    return all.filter((s) => workspaceOf(s) === scope.workspace).map(toView);
  }

  /** A schedule of `scope`'s workspace (another workspace's id is not found). */
  async get(scope: Scope, id: string): Promise<ScheduleView> {
    const found = ScheduleId.safeParse(id).success
      ? await whileReachable(this.deps.redis, 'reading the schedule', () => this.deps.queue.getJobScheduler(schedulerId(scope, id)))
      : undefined;
    if (!found || workspaceOf(found) !== scope.workspace) throw new NotFoundError(`schedule "${id}" not found`);
    return toView(found);
  }

  /** Create or replace a schedule over the API (`flow.*` ids belong to flows/); returns it as stored. */
  async put(scope: Scope, id: string, body: ScheduleBody, keyId?: string): Promise<ScheduleView> {
    validateScheduleId(id);
    assertNotFlowManaged(id);
    await this.apply(scope, id, body, keyId);
    return this.get(scope, id);
  }

  /** Validate `body` and create or replace `scope`'s schedule `id` (already checked) from it. Writes only. */
  private async apply(scope: Scope, id: string, body: ScheduleBody, keyId?: string): Promise<void> {
    const wf = await this.deps.workflows.resolve(body.workflow);
    validateCron(body.cron, body.tz);
    const input = validateRunInput(wf, body.input);
    // Every firing would be refused the same way: refused now, once.
    assertRunBounds(wf, input, this.deps.bounds ?? DEFAULT_BOUNDS);
    const data: ScheduleJobData = { scheduleId: id, workspaceId: scope.workspace, workflow: wf.name, input, ...(keyId ? { keyId } : {}) };
    await whileReachable(this.deps.redis, 'the schedule', () =>
      this.deps.queue.upsertJobScheduler(
        schedulerId(scope, id),
        { pattern: body.cron, tz: body.tz },
        {
          name: 'fire',
          data,
          opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 }, attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
        },
      ),
    );
  }

  async remove(scope: Scope, id: string): Promise<void> {
    assertNotFlowManaged(id);
    if (!ScheduleId.safeParse(id).success) throw new NotFoundError(`schedule "${id}" not found`);
    const removed = await whileReachable(this.deps.redis, 'removing the schedule', () => this.deps.queue.removeJobScheduler(schedulerId(scope, id)));
    if (!removed) throw new NotFoundError(`schedule "${id}" not found`);
  }

  /** Make the `flow.*` schedulers match the workflows' `schedule` blocks (the default workspace's: flows/ is the deployment's). */
  async syncFromFlows(scope: Scope): Promise<{ upserted: string[]; removed: string[] }> {
    const wanted = new Map<string, ScheduleBody>();
    for (const wf of this.deps.workflows.list()) {
      if (!wf.schedule) continue;
      wanted.set(`${FLOW_SCHEDULE_PREFIX}${wf.name}`, { workflow: wf.name, cron: wf.schedule.cron, tz: wf.schedule.tz ?? 'UTC', input: wf.schedule.input });
    }
    const upserted: string[] = [];
    for (const [id, body] of wanted) {
      validateScheduleId(id);
      await this.apply(scope, id, body);
      upserted.push(id);
    }
    const removed: string[] = [];
    for (const s of await this.list(scope)) {
      if (s.source === 'flows' && !wanted.has(s.id)) {
        await this.deps.queue.removeJobScheduler(s.id);
        removed.push(s.id);
      }
    }
    this.deps.logger.info({ upserted, removed }, 'schedules synced from flows');
    return { upserted, removed };
  }
}
