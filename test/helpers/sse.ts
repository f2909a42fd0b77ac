/** Reading a run's Server-Sent Events in tests. */

export interface SseEvent {
  id: string;
  event: string;
  data: { type: string; stepId?: string; runId: string; data?: Record<string, unknown> };
}

export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      fields.set(line.slice(0, i), line.slice(i + 1).replace(/^ /, ''));
    }
    if (fields.has('data')) out.push({ id: fields.get('id') ?? '', event: fields.get('event') ?? '', data: JSON.parse(fields.get('data')!) });
  }
  return out;
}

/** Read a whole SSE response of `GET /v1/runs/:id/events`; it must end by itself. */
export async function readEventStream(
  baseUrl: string,
  runId: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string | null; events: SseEvent[] }> {
  const res = await fetch(`${baseUrl}/v1/runs/${runId}/events`, { headers, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), events: parseSse(text) };
}
