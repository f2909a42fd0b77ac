/**
 * Reading a big finished run never answers 500. A run's view (its steps' inputs and outputs,
 * and the run's output beside them) can hold more text than one JavaScript string may (V8:
 * about 512 MiB): `res.json` stringified it whole and threw `RangeError: Invalid string
 * length`. The route now writes it in pieces. The view here is served by a stand-in for the
 * runs service (its strings shared, so the test holds 1 MB, not 600).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../src/api/errors.js';
import { jsonPieces } from '../../src/api/json-body.js';
import { runsRouter } from '../../src/api/routes/runs.js';
import { silentLogger } from '../../src/logger.js';
import type { RunQueries } from '../../src/query/run-queries.js';
import type { RunActions } from '../../src/submit/run-actions.js';
import type { Submissions } from '../../src/submit/submissions.js';
import { credentialRequests } from '../../src/api/scope.js';
import { Authenticator } from '../../src/auth/authenticator.js';
import type { ApiKeys } from '../../src/auth/api-keys.js';
import type { AdminSessions } from '../../src/auth/sessions.js';
import { cellOf } from '../../src/store/scope.js';
import type { RunView } from '../../src/query/run-view.js';

const MB = 1024 * 1024;
const STEPS = 180;

/** A finished run of 180 steps, each with a 1 MB input and output: about 570 MB of JSON. */
function bigView(): RunView {
  const text = 'x'.repeat(MB);
  const steps = Array.from({ length: STEPS }, (_, i) => ({ stepId: `s${i}`, status: 'succeeded', input: { task: text }, output: text }));
  return {
    id: 'run_big',
    status: 'succeeded',
    output: Object.fromEntries(steps.map((s) => [s.stepId, s.output])),
    steps,
    dag: { nodes: [], edges: [] },
  } as unknown as RunView;
}

let server: Server;
let base: string;

beforeAll(async () => {
  const queries = { get: async () => bigView() } as unknown as RunQueries;
  const app = express();
  // The open development mode: no key store is read.
  app.use(credentialRequests(new Authenticator({ mode: 'open', keys: {} as ApiKeys, sessions: {} as AdminSessions }), cellOf('{big}')));
  app.use('/v1/runs', runsRouter({ queries, submissions: {} as Submissions, actions: {} as RunActions, audit: async () => undefined }));
  app.use(errorHandler(silentLogger));
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => server?.close(() => r()) ?? r());
});

describe('GET /v1/runs/:id of a run too big for one string', () => {
  it('answers 200 with the whole view, written in pieces', async () => {
    const res = await fetch(`${base}/v1/runs/run_0mx55q17idf6fdb956c48`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    // Read as a stream: the body is too big to be one string on this side either.
    let bytes = 0;
    let first: Uint8Array | undefined;
    let last: Uint8Array | undefined;
    for await (const chunk of res.body!) {
      bytes += chunk.byteLength;
      first ??= chunk;
      last = chunk;
    }
    const head = Buffer.from(first!).toString('utf8', 0, 100);
    const tail = Buffer.from(last!).toString('utf8').slice(-100);
    // Each step's input and output, and the run's output: 3 copies of 1 MB per step.
    expect(bytes).toBeGreaterThan(3 * STEPS * MB);
    expect(head.startsWith('{"id":"run_big","status":"succeeded","output":{"s0":"xxx')).toBe(true);
    expect(tail.endsWith('xxx"}],"dag":{"nodes":[],"edges":[]}}')).toBe(true);
  });
});

describe('jsonPieces', () => {
  it('gives the text JSON.stringify gives, in pieces', () => {
    const value = {
      a: [1, 'two', null, undefined, () => 3, { b: { c: { d: { e: [true] } } } }],
      skipped: undefined,
      at: new Date(0),
      empty: {},
      none: [],
      s: 'quote " and \n and é',
      nested: [[[[[['deep']]]]]],
    };
    const pieces = [...jsonPieces(value)];
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces.join('')).toBe(JSON.stringify(value));
    for (const v of [null, 1, 'x', [], {}, [undefined]]) expect([...jsonPieces(v)].join('')).toBe(JSON.stringify(v));
  });
});
