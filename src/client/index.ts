/**
 * The typed client of the Switchyard API (`switchyard/client`): `createClient({url, key})`.
 * Its types are the server's own zod schemas (requests as a client sends them, answers as the
 * server sends them), imported as types only: the client itself is plain `fetch`. An answer
 * that is not a success is thrown as a SwitchyardError with the status and the server's message.
 */
import type { z } from 'zod';
import type { AgentList, AgentTestAnswer, AgentView, ScheduleList, ScheduleView, WorkflowList } from '../api/admin-responses.js';
import type {
  CancelAnswer,
  DecisionAnswer,
  FeedbackAnswer,
  RerunAnswer,
  RunContext,
  RunOutputs,
  RunEvent,
  RunList,
  RunView,
  Stats,
  SubmitAnswer,
} from '../api/responses.js';
import type {
  AgentBody,
  AgentChanges,
  ChatMulti,
  FeedbackBody,
  GateDecisionBody,
  ListRunsQuery,
  RerunBody,
  StatsQuery,
  SubmitRunInput,
} from '../api/schemas.js';
import type { CreateSession, SessionList, SessionMessageAnswer, SessionView } from '../api/session-schemas.js';
import type { Insights, RunMessages } from '../api/insight-responses.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import type { RunListInclude } from '../model/run.js';
import type { ScheduleBody } from '../schedules/schedules-service.js';
import type { WebhookCreate, WebhookCreated, WebhookDeliveryList, WebhookList } from '../model/webhook.js';
import { errorOf } from './error.js';
import { runEvents, type EventsOptions } from './events.js';

export { SwitchyardError } from './error.js';
export type { EventsOptions } from './events.js';
export type { SubmitRunInput };

type Out<S extends z.ZodType> = z.output<S>;
type In<S extends z.ZodType> = z.input<S>;

export type Run = Out<typeof RunView>;
export type RunPage = Out<typeof RunList>;
export type Event = Out<typeof RunEvent>;
export type Submitted = Out<typeof SubmitAnswer>;
export type Agent = Out<typeof AgentView>;
export type Schedule = Out<typeof ScheduleView>;
export type StatsAnswer = Out<typeof Stats>;
export type InsightsAnswer = Out<typeof Insights>;
/** One message between the parties of a run (seed 002's AgentMessage). */
export type AgentMessage = Out<typeof RunMessages>['messages'][number];
export type Workflow = Out<typeof CompiledWorkflow>;
export type ChatMultiInput = In<typeof ChatMulti>;
export type Session = Out<typeof SessionView>;
/** A message sent: its turn (202), or with `wait` the turn once it has ended (its answer or error, run and usage). */
export type SessionTurnAnswer = Out<typeof SessionMessageAnswer>;
/** What a submission with `wait` gives: the run, finished in time, or the submission to follow (the run goes on). */
export type Waited = { finished: true; run: Run } | { finished: false; submitted: Submitted };

/** GET /v1/runs's filters; `include` as a list. */
export type ListRunsParams = Omit<In<typeof ListRunsQuery>, 'include' | 'limit'> & { include?: readonly RunListInclude[]; limit?: number };
export type StatsParams = In<typeof StatsQuery>;

export interface ClientOptions {
  /** The server, e.g. `http://localhost:3000`. */
  url: string;
  /** An API key or JWT, sent as `Authorization: Bearer`; none in the open development mode. */
  key?: string;
  /** Another fetch (default: the global one). */
  fetch?: typeof fetch;
}

/** `?a=1&b=x`, without the undefined ones; lists as comma lists. */
function queryString(params: object = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params) as [string, string | number | boolean | readonly string[] | undefined][])
    if (v !== undefined) q.set(k, typeof v === 'object' ? v.join(',') : String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const seg = encodeURIComponent;

export function createClient(opts: ClientOptions) {
  const base = opts.url.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? globalThis.fetch;
  const auth: Record<string, string> = opts.key ? { authorization: `Bearer ${opts.key}` } : {};

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await doFetch(`${base}${path}`, {
      method,
      headers: { ...auth, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) throw await errorOf(res);
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  /** POST `path?wait=<seconds>`: a 200 with a run's steps is the finished run; any other success is the submission. */
  async function submitAndWait(path: string, body: unknown, seconds: number): Promise<Waited> {
    const answer = await call<Run | Submitted>('POST', `${path}${queryString({ wait: seconds })}`, body);
    return 'steps' in answer ? { finished: true, run: answer } : { finished: false, submitted: answer };
  }

  const decide =
    (approve: boolean) =>
    (runId: string, stepId: string, decision: In<typeof GateDecisionBody> = {}) =>
      call<Out<typeof DecisionAnswer>>('POST', `/v1/runs/${seg(runId)}/steps/${seg(stepId)}/${approve ? 'approve' : 'reject'}`, decision);
  const approvals = { approve: decide(true), reject: decide(false) };

  return {
    runs: {
      /** Start a run (202); with an `idempotencyKey` already used, the run it made (`idempotentReplay`). */
      create: (body: SubmitRunInput) => call<Submitted>('POST', '/v1/runs', body),
      /**
       * Start a run and wait up to `seconds` (at most the server's SWITCHYARD_MAX_WAIT_SECONDS,
       * 60 by default) for it to finish: the finished run, or the submission when it has not
       * finished by then (follow it with `events` or `get`).
       */
      createAndWait: (body: SubmitRunInput, seconds: number) => submitAndWait('/v1/runs', body, seconds),
      get: (id: string, o: { definition?: boolean } = {}) =>
        call<Run>('GET', `/v1/runs/${seg(id)}${queryString({ include: o.definition ? 'definition' : undefined })}`),
      /** Newest first; pass `nextCursor` back as `cursor`. */
      list: (params: ListRunsParams = {}) => call<RunPage>('GET', `/v1/runs${queryString(params)}`),
      cancel: (id: string) => call<Out<typeof CancelAnswer>>('POST', `/v1/runs/${seg(id)}/cancel`),
      /** A new run from `fromStep` of this one (it and what depends on it run again). */
      rerun: (id: string, body: In<typeof RerunBody>) => call<Out<typeof RerunAnswer>>('POST', `/v1/runs/${seg(id)}/rerun`, body),
      context: (id: string) => call<Out<typeof RunContext>>('GET', `/v1/runs/${seg(id)}/context`),
      /** The run's work outputs (emit_output), in the order emitted. */
      outputs: async (id: string) => (await call<Out<typeof RunOutputs>>('GET', `/v1/runs/${seg(id)}/outputs`)).outputs,
      feedback: (id: string, stepId: string, body: In<typeof FeedbackBody>) =>
        call<Out<typeof FeedbackAnswer>>('POST', `/v1/runs/${seg(id)}/steps/${seg(stepId)}/feedback`, body),
      /** The traffic between the run's agents, in order (delegations, tool calls, votes, context publishes, feedback). */
      messages: async (id: string) => (await call<Out<typeof RunMessages>>('GET', `/v1/runs/${seg(id)}/messages`)).messages,
      /** The run's events until `run.finished`, reconnecting from the last one on a dropped connection. */
      events: (id: string, o?: EventsOptions): AsyncGenerator<Event> =>
        runEvents({ url: `${base}/v1/runs/${seg(id)}/events`, headers: auth, fetch: doFetch }, o),
    },
    approvals,
    chat: {
      /** One message to several agents, as a run (parallel, sequential or orchestrated). */
      multi: (body: ChatMultiInput) => call<Submitted>('POST', '/v1/chat/multi', body),
      /** The same, waiting up to `seconds` for the run to finish, as `runs.createAndWait`. */
      multiAndWait: (body: ChatMultiInput, seconds: number) => submitAndWait('/v1/chat/multi', body, seconds),
    },
    sessions: {
      /** A conversation with an agent that remembers earlier turns (docs/sessions.md). */
      create: (body: In<typeof CreateSession>) => call<Session>('POST', '/v1/sessions', body),
      get: (id: string) => call<Session>('GET', `/v1/sessions/${seg(id)}`),
      /** Newest first; pass `nextCursor` back as `cursor`. */
      list: (params: { limit?: number; cursor?: string } = {}) => call<Out<typeof SessionList>>('GET', `/v1/sessions${queryString(params)}`),
      /** Send a message (a turn); with `wait` (seconds), its answer when the turn ends in time (`status` then `succeeded` or `failed`). */
      send: (id: string, message: string, o: { wait?: number } = {}) =>
        call<SessionTurnAnswer>('POST', `/v1/sessions/${seg(id)}/messages${queryString({ wait: o.wait })}`, { message }),
      delete: (id: string) => call<undefined>('DELETE', `/v1/sessions/${seg(id)}`),
    },
    schedules: {
      list: async () => (await call<Out<typeof ScheduleList>>('GET', '/v1/schedules')).schedules,
      get: (id: string) => call<Schedule>('GET', `/v1/schedules/${seg(id)}`),
      /** Create or replace. */
      set: (id: string, body: In<typeof ScheduleBody>) => call<Schedule>('PUT', `/v1/schedules/${seg(id)}`, body),
      delete: (id: string) => call<undefined>('DELETE', `/v1/schedules/${seg(id)}`),
    },
    /** The workspace's webhook subscriptions (docs/webhooks.md); a run's own webhook is `run-<run id>`. */
    webhooks: {
      /** `secret` is in the answer only when one was made for it: keep it. */
      create: (body: In<typeof WebhookCreate>) => call<Out<typeof WebhookCreated>>('POST', '/v1/webhooks', body),
      list: async () => (await call<Out<typeof WebhookList>>('GET', '/v1/webhooks')).webhooks,
      delete: (id: string) => call<undefined>('DELETE', `/v1/webhooks/${seg(id)}`),
      /** Its delivery attempts, newest first. */
      deliveries: async (id: string) => (await call<Out<typeof WebhookDeliveryList>>('GET', `/v1/webhooks/${seg(id)}/deliveries`)).deliveries,
    },
    agents: {
      list: async (o: { prompts?: boolean } = {}) => (await call<Out<typeof AgentList>>('GET', `/v1/agents${o.prompts ? '?include=prompts' : ''}`)).agents,
      get: (name: string) => call<Agent>('GET', `/v1/agents/${seg(name)}`),
      create: (body: In<typeof AgentBody>) => call<Agent>('POST', '/v1/agents', body),
      update: (name: string, changes: In<typeof AgentChanges>) => call<Agent>('PATCH', `/v1/agents/${seg(name)}`, changes),
      delete: (name: string) => call<undefined>('DELETE', `/v1/agents/${seg(name)}`),
      test: (name: string, prompt: string) => call<Out<typeof AgentTestAnswer>>('POST', `/v1/agents/${seg(name)}/test`, { prompt }),
    },
    workflows: {
      list: async () => (await call<Out<typeof WorkflowList>>('GET', '/v1/workflows')).workflows,
      get: (name: string) => call<Workflow>('GET', `/v1/workflows/${seg(name)}`),
    },
    /** Totals, per agent and per workflow, trends (default: the last 24 hours). */
    stats: (params: StatsParams = {}) => call<StatsAnswer>('GET', `/v1/stats${queryString(params)}`),
    /** Per agent and workflow: trends, the most common failure reasons and suggestions, over the same window as stats. */
    insights: (params: StatsParams = {}) => call<InsightsAnswer>('GET', `/v1/insights${queryString(params)}`),
  };
}

export type Client = ReturnType<typeof createClient>;
