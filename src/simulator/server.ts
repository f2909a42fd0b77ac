/**
 * The simulator: an HTTP server that answers `POST /v1/messages` as Anthropic does and
 * `POST /v1/chat/completions` as OpenAI does, well enough for their real SDKs, with the
 * latency, pace, errors and rate limits of its config. `GET /stats` says what it served.
 *
 * A request goes: read and check its body (400 in the API's shape) → plan its answer (a test's
 * hook, else the config) → for a success, its rate limits (429 with `Retry-After`) and the
 * injected errors → the plan's delay → the answer, whole or streamed, with the rate-limit
 * headers of the limits it was counted against.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { answerOf, configuredPlan, type Plan, type StreamErrorKind } from './answer.js';
import { ERROR_KINDS, SimConfig, type ErrorKind, type SimConfigInput } from './config.js';
import { sendJson, streamAnswer } from './deliver.js';
import { Limits, type Admission } from './limits.js';
import { PromptCacheSim } from './prompt-cache.js';
import { Random } from './random.js';
import { allText, apiOf, lastUserText, read, type Api, type SimExchange } from './request.js';
import { SimStats, type Outcome, type StatsSnapshot } from './stats.js';
import { tokens, type TokenCounter } from './text.js';
import { anthropicWire } from './wire/anthropic.js';
import { openaiWireOf, quirkProblem, wantsUnder } from './wire/openai-quirks.js';
import type { Wire } from './wire/wire.js';

/** Ways in for a program that embeds the simulator (the tests' fake server): none is needed to run it. */
export interface SimHooks {
  /** A plan for this request instead of the configured one (undefined: the configured one). */
  plan?: (ex: SimExchange) => Plan | undefined | Promise<Plan | undefined>;
  /** Each request as it arrives, once its body is read. */
  onRequest?: (ex: SimExchange) => void;
  /** A request whose client went away before its answer was sent. */
  onAbort?: (ex: SimExchange) => void;
  /** How tokens are counted. @default text.ts `tokens` */
  tokens?: TokenCounter;
  /** The prompt's tokens of a request. @default every text of the request, counted */
  inputTokens?: (ex: SimExchange, model: string) => number;
  /** The message of an error answer. */
  errorMessage?: (status: number, type: string | undefined) => string;
  /** The message of an error event that breaks a stream off. */
  streamErrorMessage?: (kind: StreamErrorKind) => string;
}

export interface Simulator {
  url: string;
  port: number;
  /** For `new Anthropic({ baseURL })`: the SDK appends /v1/messages. */
  anthropicBaseURL: string;
  /** For `new OpenAI({ baseURL })`: the SDK appends /chat/completions. */
  openaiBaseURL: string;
  stats(): StatsSnapshot;
  resetStats(): void;
  /** Cut every open connection (an answer being streamed breaks off). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** An error answer's outcome in the stats, from its status and type. */
function outcomeOf(status: number, type: string | undefined): Outcome {
  if (type === 'insufficient_quota' || type === 'billing_error') return 'quota';
  if (status === 429) return 'rateLimit';
  if (status === 529 || status === 503) return 'overloaded';
  if (status >= 500) return 'server';
  return status === 400 ? 'badRequest' : 'other';
}

/** The injected error of this request, drawn from the configured rates (one draw a request). */
function drawFault(rates: Record<ErrorKind, number>, random: Random): ErrorKind | undefined {
  let x = random.next();
  for (const kind of ERROR_KINDS) {
    if (x < rates[kind]) return kind;
    x -= rates[kind];
  }
  return undefined;
}

/** A sleep whose timers `close()` clears. */
function sleeper(timers: Set<NodeJS.Timeout>): (ms: number) => Promise<void> {
  return (ms) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, ms);
          timers.add(t);
        });
}

/** A request's body as JSON (undefined when empty), or that it is not JSON. */
async function readJson(req: IncomingMessage): Promise<{ body: unknown; notJson: boolean }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  try {
    return { body: raw ? (JSON.parse(raw) as unknown) : undefined, notJson: false };
  } catch {
    return { body: undefined, notJson: true };
  }
}

/** The 429 of a request over the model's rpm or tpm. */
function sendLimited(
  res: ServerResponse,
  o: {
    api: Api;
    wire: Wire;
    config: SimConfig;
    model: string;
    asked: number;
    admission: Extract<Admission, { ok: false }>;
    rateHeaders: Record<string, string>;
  },
): void {
  const { admission, config, model } = o;
  const tooLarge = admission.retryAfterMs === Infinity;
  const afterMs = tooLarge ? 60_000 : admission.retryAfterMs;
  const what = admission.which === 'rpm' ? `${config.rpm} requests` : `${config.tpm} tokens`;
  const message = tooLarge
    ? `request of ${o.asked} tokens is more than the token bucket of model ${model} holds (tpm ${config.tpm}, ${config.bucketSeconds} s of it at once; simulated)`
    : `rate limit of ${what} per minute reached for model ${model} (simulated); retry after ${Math.ceil(afterMs / 1000)} s`;
  // Retry-After in whole seconds as the providers send it, and to the ms (which both SDKs read first).
  sendJson(res, 429, o.wire.errorBody(429, admission.which === 'tpm' && o.api === 'openai' ? 'tokens' : undefined, message), {
    ...o.rateHeaders,
    'retry-after': String(Math.ceil(afterMs / 1000)),
    'retry-after-ms': String(afterMs),
  });
}

export async function startSimulator(input: SimConfigInput = {}, hooks: SimHooks = {}): Promise<Simulator> {
  const config = SimConfig.parse(input);
  const wires: Record<Api, Wire> = { anthropic: anthropicWire, openai: openaiWireOf(config.quirks) };
  const random = new Random(config.seed);
  const limits = new Limits(config);
  const promptCache = new PromptCacheSim();
  const stats = new SimStats();
  const count = hooks.tokens ?? tokens;
  const errorMessage = hooks.errorMessage ?? ((status, type) => `simulated error ${status}${type ? ` ${type}` : ''}`);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const sleep = sleeper(timers);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const time = Date.now(); // when the request came, before its body was read
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/stats' && (req.method === 'GET' || req.method === 'DELETE')) {
      if (req.method === 'DELETE') stats.reset();
      return sendJson(res, 200, stats.snapshot());
    }
    if (path === '/health' && req.method === 'GET') return sendJson(res, 200, { ok: true });
    const api = apiOf(path);
    const { body, notJson } = await readJson(req);
    const ex: SimExchange = { api, path, headers: req.headers, body, prompt: lastUserText(body), time, aborted: false };
    hooks.onRequest?.(ex);
    res.on('close', () => {
      if (res.writableFinished) return;
      ex.aborted = true;
      hooks.onAbort?.(ex);
    });
    if (api === 'unknown' || req.method !== 'POST') {
      return sendJson(
        res,
        404,
        anthropicWire.errorBody(404, undefined, `no route ${req.method} ${path}: the simulator serves POST /v1/messages and POST /v1/chat/completions`),
      );
    }
    const wire = wires[api];
    const quirk = api === 'openai' && !notJson ? quirkProblem(config.quirks, body) : undefined;
    const reading = notJson ? { problem: 'the request body is not valid JSON' } : quirk ? { problem: quirk } : read(api, body);
    if ('problem' in reading) {
      stats.record({ api, model: modelOf(body), outcome: 'invalidRequest' });
      return sendJson(res, 400, wire.errorBody(400, undefined, reading.problem));
    }
    const wants = api === 'openai' ? wantsUnder(config.quirks, reading.wants) : reading.wants;
    const c = (text: string) => count(text, wants.model);
    const plan = (await hooks.plan?.(ex)) ?? configuredPlan(wants, config, random, c);
    const status = plan.status ?? 200;
    if (plan.body !== undefined || status >= 400) {
      await sleep(plan.delayMs ?? 0);
      if (ex.aborted) return stats.record({ api, model: wants.model, outcome: 'aborted' });
      stats.record({ api, model: wants.model, outcome: status < 400 ? 'answered' : outcomeOf(status, plan.errorType) });
      return sendJson(res, status, plan.body ?? wire.errorBody(status, plan.errorType, errorMessage(status, plan.errorType)), plan.headers);
    }

    const inputTokens = hooks.inputTokens?.(ex, wants.model) ?? c(allText(body));
    const cache = config.promptCache && !plan.cache ? promptCache.use(api, body, wants.model, c) : undefined;
    const answer = answerOf(plan, { model: wants.model, inputTokens, idPrefix: wire.idPrefix, callPrefix: wire.callPrefix, cache }, random, c);
    const asked = answer.usage.input + answer.usage.output;
    const admission = limits.admit(wants.model, asked);
    const rateHeaders = wire.rateHeaders(admission.state, Date.now());
    if (!admission.ok) {
      stats.record({ api, model: wants.model, outcome: admission.which === 'rpm' ? 'rpmLimit' : 'tpmLimit' });
      return sendLimited(res, { api, wire, config, model: wants.model, asked, admission, rateHeaders });
    }
    const fault = drawFault(config.errors, random);
    if (fault) {
      const f = wire.fault(fault);
      const retry: Record<string, string> = f.status === 429 || f.status >= 500 ? { 'retry-after': String(config.retryAfterSeconds) } : {};
      stats.record({ api, model: wants.model, outcome: fault });
      return sendJson(res, f.status, wire.errorBody(f.status, f.type, errorMessage(f.status, f.type ?? fault)), { ...rateHeaders, ...retry });
    }

    const headers = { ...rateHeaders, ...plan.headers };
    const tps = config.tokensPerSecond;
    await sleep((plan.delayMs ?? 0) + (!wants.stream && tps ? (answer.usage.output * 1000) / tps : 0));
    if (ex.aborted) return stats.record({ api, model: wants.model, outcome: 'aborted' });
    if (wants.stream) {
      const streamErrorMessage = hooks.streamErrorMessage ?? ((kind: StreamErrorKind) => `simulated stream error (${kind})`);
      const end = await streamAnswer({ res, ex, wire, sleep, count: c, tokensPerSecond: tps, headers, streamErrorMessage }, answer, plan);
      const outcome: Outcome = end === 'done' ? 'answered' : end === 'error' ? 'streamError' : end === 'aborted' ? 'aborted' : 'other';
      return stats.record({ api, model: wants.model, outcome, streamed: true, tokens: { input: answer.usage.input, output: answer.usage.output } });
    }
    const u = answer.usage;
    ex.answered = { inputTokens: u.input, outputTokens: u.output, cacheReadTokens: u.cacheRead, cacheWriteTokens: u.cacheWrite };
    stats.record({ api, model: wants.model, outcome: 'answered', tokens: { input: answer.usage.input, output: answer.usage.output } });
    sendJson(res, 200, wire.body(answer), headers);
  }

  server.listen(config.port, config.host);
  await once(server, 'listening');
  return handleOf(server, config.host, { sockets, timers, stats });
}

/** The simulator's handle on its listening server: its addresses, its stats, and how it closes. */
function handleOf(server: Server, host: string, own: { sockets: Set<Socket>; timers: Set<NodeJS.Timeout>; stats: SimStats }): Simulator {
  const { sockets, timers, stats } = own;
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    anthropicBaseURL: url,
    openaiBaseURL: `${url}/v1`,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive and in-flight sockets would keep close() waiting forever.
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

const modelOf = (body: unknown): string =>
  body !== null && typeof body === 'object' && typeof (body as { model?: unknown }).model === 'string' ? (body as { model: string }).model : 'unknown';
