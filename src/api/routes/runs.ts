import { Router, type Request, type Response } from 'express';
import { keys } from '../../runs/keys.js';
import { parseEvent } from '../../runs/run-store.js';
import { TERMINAL_RUN_STATUSES, type RunEvent } from '../../runs/types.js';
import type { System } from '../../system.js';
import { HttpError, parseOr422 } from '../errors.js';
import { ListRunsQuery, SubmitAgentRun, SubmitRun, SubmitWorkflowRun } from '../schemas.js';

export function runsRouter(system: System, shutdownSignal?: AbortSignal): Router {
  const r = Router();

  r.post('/', async (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'invalid_body', 'the body must be a JSON object with "agent" and "input", or "workflow" and "input"');
    }
    // Pick the branch by its discriminating field so errors name the right fields.
    const parsed = 'agent' in body ? parseOr422(SubmitAgentRun, body) : 'workflow' in body ? parseOr422(SubmitWorkflowRun, body) : parseOr422(SubmitRun, body);
    // The parsed body carries the submit options (idempotencyKey, priority).
    const result =
      'agent' in parsed
        ? await system.runs.submitAgentTask(parsed.agent, parsed.input, parsed)
        : await system.runs.submitWorkflow(parsed.workflow, parsed.input, parsed);
    res
      .status(result.created ? 202 : 200)
      .location(`/v1/runs/${result.id}`)
      .json({ id: result.id, status: result.status, ...(result.created ? {} : { idempotentReplay: true }) });
  });

  r.get('/', async (req, res) => {
    res.json(await system.runs.list(parseOr422(ListRunsQuery, req.query, 'query')));
  });

  r.get('/:id', async (req, res) => {
    res.json(await system.runs.get(req.params.id));
  });

  r.post('/:id/cancel', async (req, res) => {
    res.json(await system.runs.cancel(req.params.id));
  });

  r.get('/:id/events', (req, res) => streamEvents(system, req as Request<{ id: string }>, res, shutdownSignal));

  return r;
}

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };
const sseFrame = (event: RunEvent) => `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/** Stream ids (`<ms>-<seq>`, each a 64-bit number) in order, exactly, whatever their digits. */
const idAfter = (id: string, after: string) => {
  const [a = 0n, b = 0n] = id.split('-').map(BigInt);
  const [c = 0n, d = 0n] = after.split('-').map(BigInt);
  return a > c || (a === c && b > d);
};

/**
 * Server-Sent Events of a run's ordered event log, replayable from any point with
 * Last-Event-ID (or ?after=). The stream ends after `run.finished`. A run past Redis
 * retention is served from the archive (MongoDB), when one is configured.
 */
async function streamEvents(system: System, req: Request<{ id: string }>, res: Response, shutdownSignal?: AbortSignal): Promise<void> {
  const runId = req.params.id;
  const after = req.get('Last-Event-ID') ?? (typeof req.query.after === 'string' ? req.query.after : undefined);
  if (after !== undefined && !/^\d+-\d+$/.test(after)) throw new HttpError(400, 'invalid_event_id', `Last-Event-ID "${after}" is not an event id`);
  const status = await system.store.getRunStatus(runId);
  if (status === null) {
    const events = (await system.runs.archivedEvents(runId)).filter((e) => after === undefined || idAfter(e.id, after));
    if (after !== undefined && events.length === 0) {
      res.status(204).end();
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    res.end(events.map(sseFrame).join(''));
    return;
  }
  if (TERMINAL_RUN_STATUSES.includes(status) && after !== undefined && (await system.store.readEvents(runId, after, 1)).length === 0) {
    // A client reconnecting after run.finished: nothing will ever follow. 204 tells an
    // EventSource to stop reconnecting.
    res.status(204).end();
    return;
  }

  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();

  // A blocking read needs its own connection; it is dropped when the client goes away.
  const reader = system.stateRedis.duplicate();
  let open = true;
  const stop = () => {
    open = false;
    reader.disconnect();
  };
  req.on('close', stop);
  shutdownSignal?.addEventListener('abort', stop, { once: true });
  const key = keys.events(system.store.prefix, runId);
  let last = after ?? '0-0';
  try {
    while (open) {
      const batch = await reader.xread('COUNT', 500, 'BLOCK', 15_000, 'STREAMS', key, last);
      if (!open) break;
      if (!batch) {
        res.write(': keep-alive\n\n');
        continue;
      }
      for (const [id, fields] of batch[0]![1]) {
        const event = parseEvent(id, fields);
        last = id;
        if (!event) continue;
        res.write(sseFrame(event));
        if (event.type === 'run.finished') open = false;
      }
    }
  } catch (err) {
    if (open) system.logger.warn({ runId, err: (err as Error).message }, 'event stream ended with an error');
  } finally {
    shutdownSignal?.removeEventListener('abort', stop);
    reader.disconnect();
    res.end();
  }
}
