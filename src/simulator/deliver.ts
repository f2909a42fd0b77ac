/**
 * Writing an answer: a JSON body, or a stream of Server-Sent Events in pieces, paced by a
 * pause before each piece or by a rate of tokens a second, broken off or cut as the plan says,
 * and stopped as soon as the client goes away.
 */
import type { ServerResponse } from 'node:http';
import type { Answer, Plan, StreamErrorKind } from './answer.js';
import type { SimExchange } from './request.js';
import type { Frame, Wire } from './wire/wire.js';

export function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_sim_${Date.now().toString(36)}`, ...headers });
  res.end(JSON.stringify(payload));
}

export interface StreamContext {
  res: ServerResponse;
  ex: SimExchange;
  wire: Wire;
  sleep: (ms: number) => Promise<void>;
  count: (text: string) => number;
  tokensPerSecond: number | undefined;
  headers: Record<string, string>;
  streamErrorMessage: (kind: StreamErrorKind) => string;
}

/** How a stream ended: whole, broken off with an error event, cut, or left by its client. */
export type StreamEnd = 'done' | 'error' | 'cut' | 'aborted';

/** `text` in at most `n` pieces of equal length, or a piece a word (with its space) when `n` is absent. */
export function piecesOf(text: string, n: number | undefined): string[] {
  if (n === undefined) return text.match(/\S+\s*|\s+/g) ?? [];
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, n)));
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

/** Each tool call's arguments in two pieces, as the APIs stream them in several. */
const halves = (args: string) => [args.slice(0, Math.ceil(args.length / 2)), args.slice(Math.ceil(args.length / 2))].filter((p) => p.length);

export async function streamAnswer(ctx: StreamContext, a: Answer, plan: Plan): Promise<StreamEnd> {
  const { res, ex, wire } = ctx;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_sim_${Date.now().toString(36)}`, ...ctx.headers });
  const write = (frames: Frame[]) => {
    for (const f of frames)
      if (!res.destroyed) res.write(`${f.event ? `event: ${f.event}\n` : ''}data: ${typeof f.data === 'string' ? f.data : JSON.stringify(f.data)}\n\n`);
  };
  const gone = () => ex.aborted || res.destroyed;
  write(wire.streamOpen(a));
  const started = Date.now();
  let sent = 0; // tokens sent so far, for the pace
  const pace = async (tokens: number) => {
    sent += tokens;
    if (ctx.tokensPerSecond) await ctx.sleep(started + (sent * 1000) / ctx.tokensPerSecond - Date.now());
  };
  for (const [i, piece] of piecesOf(a.text, plan.chunks).entries()) {
    if (plan.chunkDelayMs) await ctx.sleep(plan.chunkDelayMs);
    else await pace(ctx.count(piece));
    if (gone()) return 'aborted';
    write(wire.streamText(a, piece));
    if (plan.streamError && i === 0) {
      write([wire.streamError(plan.streamError, ctx.streamErrorMessage(plan.streamError))]);
      res.end();
      return 'error';
    }
    if (plan.streamCut && i === 0) {
      res.end();
      return 'cut';
    }
  }
  if (a.toolCalls.length) await pace(a.toolCalls.reduce((n, c) => n + ctx.count(c.arguments), 0));
  if (gone()) return 'aborted';
  write(wire.streamTools(a, halves));
  write(wire.streamClose(a));
  res.end();
  return 'done';
}
