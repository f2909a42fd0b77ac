/**
 * A run's event log entries as RunEvents. The log holds each event's JSON without the run id
 * (the log's) and without its id (its position, from 1); a finished, compacted run holds the
 * same entries as one JSON list. A reader skips a bad entry rather than fail on it.
 */
import { RunEvent } from '../model/run.js';

/** An entry (already parsed) as the event with id `id`, or undefined when it is not one. */
export function eventOf(id: string, body: unknown, runId: string): RunEvent | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const result = RunEvent.safeParse({ ...body, runId, id });
  return result.success ? result.data : undefined;
}

/** An entry's JSON text as the event with id `id`, or undefined when it is not one. */
export function parseEvent(id: string, raw: string, runId: string): RunEvent | undefined {
  try {
    return eventOf(id, JSON.parse(raw), runId);
  } catch {
    return undefined;
  }
}

/**
 * A message of a run's event channel as its event: `<id> <event JSON>` (a logged event), or
 * `d<n> <event JSON>` (a live-only `step.delta`, published when the log held n events: `after`).
 */
export function parseMessage(runId: string, message: string): { event: RunEvent; after?: number } | undefined {
  const space = message.indexOf(' ');
  if (space <= 0) return undefined;
  const head = message.slice(0, space);
  const live = head.startsWith('d');
  const event = parseEvent(live ? '' : head, message.slice(space + 1), runId);
  if (!event) return undefined;
  const after = live ? Number(head.slice(1)) : undefined;
  if (after !== undefined && !(Number.isInteger(after) && after >= 0)) return undefined;
  return after === undefined ? { event } : { event, after };
}
