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

/** A message of a run's event channel (`<id> <event JSON>`) as its event. */
export function parseMessage(runId: string, message: string): RunEvent | undefined {
  const space = message.indexOf(' ');
  return space > 0 ? parseEvent(message.slice(0, space), message.slice(space + 1), runId) : undefined;
}
