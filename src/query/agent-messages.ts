/**
 * The traffic between the parties of a run as seed 002's AgentMessages (GET /v1/runs/:id/messages),
 * derived from what the run keeps, in order of time: an agent's tool calls and their results,
 * its delegations (a call that became a child step) and their answers (the step's tool calls,
 * `calls`, timed by the `step.progress` events of its turns), a vote's questions and the votes,
 * a step's tasks to the child steps it added, the run's context publishes (`context.updated`)
 * and the feedback given on a step. Pure.
 */
import type { AgentMessage, AgentMessageTopic, AgentMessageType } from '../model/agent-message.js';
import type { RunEvent, RunRecord, StepRecord, ToolCallRecord } from '../model/run.js';

type Draft = Omit<AgentMessage, 'id' | 'metadata'> & { metadata: Omit<AgentMessage['metadata'], 'runId' | 'workflowId'> };

/** Who a step is in the messages: its agent, else `<kind>:<stepId>` (a step the engine runs itself). */
export const partyOf = (s: Pick<StepRecord, 'agent' | 'kind' | 'stepId'>): string => s.agent ?? `${s.kind}:${s.stepId}`;

/** When each tool call of each step was first seen planned, and first seen answered (its turns' `step.progress` events). */
function callTimes(events: readonly RunEvent[]): Map<string, { asked: string; answered?: string }> {
  const times = new Map<string, { asked: string; answered?: string }>();
  for (const e of events) {
    if (e.type !== 'step.progress' || !e.stepId || !Array.isArray(e.data.calls)) continue;
    for (const c of e.data.calls as Partial<ToolCallRecord>[]) {
      if (typeof c?.id !== 'string') continue;
      const key = `${e.stepId}\u0000${c.id}`;
      const t = times.get(key) ?? { asked: e.at };
      if (t.answered === undefined && (c.result !== undefined || c.error !== undefined || c.step !== undefined)) t.answered = e.at;
      times.set(key, t);
    }
  }
  return times;
}

/** A step's answer to the step that asked it: its output, or its error; none when it never answered (skipped, cancelled, still live). */
const answerOf = (s: StepRecord): { content: unknown; error: boolean } | undefined =>
  s.status === 'succeeded' ? { content: s.output, error: false } : s.status === 'failed' ? { content: s.error, error: true } : undefined;

function message(
  type: AgentMessageType,
  topic: AgentMessageTopic,
  from: string,
  to: string,
  content: unknown,
  taskId: string,
  at: string | null,
  extra: Partial<Draft['metadata']> = {},
): Draft | undefined {
  return at ? { fromAgent: from, toAgent: to, messageType: type, content, metadata: { topic, taskId, ...extra }, timestamp: at } : undefined;
}

/** The messages of one step's tool calls: delegations (with their child step's answer) and other tools. */
function callMessages(s: StepRecord, byId: ReadonlyMap<string, StepRecord>, times: ReturnType<typeof callTimes>): Draft[] {
  const me = partyOf(s);
  return (s.calls ?? []).flatMap((c) => {
    const t = times.get(`${s.stepId}\u0000${c.id}`);
    const call = { callId: c.id, turn: c.turn };
    const child = c.step !== undefined ? byId.get(c.step) : undefined;
    if (c.step !== undefined) {
      const to = child ? partyOf(child) : c.step;
      const ask = message('request', 'delegation', me, to, c.args, s.stepId, child?.createdAt ?? t?.asked ?? s.startedAt, { childStep: c.step, ...call });
      const done = child ? answerOf(child) : undefined;
      const answered = c.result !== undefined || c.error !== undefined ? { content: c.result ?? c.error, error: c.error !== undefined } : done;
      const reply = answered
        ? message('response', 'delegation', to, me, answered.content, c.step, child?.finishedAt ?? t?.answered ?? s.finishedAt, {
            childStep: c.step,
            ...call,
            ...(answered.error ? { error: true } : {}),
          })
        : undefined;
      return [ask, reply].filter((m): m is Draft => m !== undefined);
    }
    const tool = `tool:${c.name}`;
    const ask = message('request', 'tool', me, tool, c.args, s.stepId, t?.asked ?? s.startedAt, call);
    const reply =
      c.result !== undefined || c.error !== undefined
        ? message('response', 'tool', tool, me, c.result ?? c.error, s.stepId, t?.answered ?? s.finishedAt ?? t?.asked ?? null, {
            ...call,
            ...(c.error !== undefined ? { error: true } : {}),
          })
        : undefined;
    return [ask, reply].filter((m): m is Draft => m !== undefined);
  });
}

/** A child step no delegation names: a vote's voter, or a task a step (forEach, loop, plan...) gave it. */
function childMessages(child: StepRecord, parent: StepRecord): Draft[] {
  const topic: AgentMessageTopic = parent.kind === 'vote' ? 'vote' : 'child';
  const from = partyOf(parent);
  const to = partyOf(child);
  const ask = message('request', topic, from, to, child.input, parent.stepId, child.createdAt, { childStep: child.stepId });
  const a = answerOf(child);
  if (!a) return ask ? [ask] : [];
  const reply = message('response', topic, to, from, a.content, child.stepId, child.finishedAt, {
    childStep: child.stepId,
    ...(a.error ? { error: true } : {}),
  });
  return [ask, reply].filter((m): m is Draft => m !== undefined);
}

/** A step's publishes to the shared context: the names it wrote (their values while it holds them). */
function contextMessages(run: RunRecord, byId: ReadonlyMap<string, StepRecord>, events: readonly RunEvent[]): Draft[] {
  return events.flatMap((e) => {
    const stepId = e.stepId ?? (typeof e.data.step === 'string' ? e.data.step : undefined);
    if (e.type !== 'context.updated' || !stepId) return [];
    const names = Array.isArray(e.data.keys) ? (e.data.keys as unknown[]).filter((k): k is string => typeof k === 'string') : [];
    const held = names.filter((n) => run.contextWriters?.[n]?.step === stepId);
    const content = { keys: names, values: Object.fromEntries(held.map((n) => [n, run.context?.[n] ?? null])), ...(e.data.kept ? { kept: e.data.kept } : {}) };
    const step = byId.get(stepId);
    const m = message('notification', 'context', step ? partyOf(step) : stepId, 'context', content, stepId, e.at);
    return m ? [m] : [];
  });
}

export function agentMessages(run: RunRecord, steps: readonly StepRecord[], events: readonly RunEvent[]): AgentMessage[] {
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  const times = callTimes(events);
  const delegated = new Set(steps.flatMap((s) => (s.calls ?? []).flatMap((c) => (c.step !== undefined ? [c.step] : []))));
  const drafts: Draft[] = [];
  for (const s of steps) {
    drafts.push(...callMessages(s, byId, times));
    const parent = s.parent !== null ? byId.get(s.parent) : undefined;
    if (parent && !delegated.has(s.stepId)) drafts.push(...childMessages(s, parent));
    if (s.feedback) {
      const { rating, useful, comment } = s.feedback;
      const m = message(
        'feedback',
        'feedback',
        'user',
        partyOf(s),
        { rating, ...(useful !== undefined ? { useful } : {}), ...(comment !== undefined ? { comment } : {}) },
        s.stepId,
        s.feedback.at,
      );
      if (m) drafts.push(m);
    }
  }
  drafts.push(...contextMessages(run, byId, events));
  // In order of time; messages of the same instant keep the order they were derived in (a request before its answer).
  const ordered = drafts.map((d, i) => ({ d, i, t: Date.parse(d.timestamp) })).sort((x, y) => x.t - y.t || x.i - y.i);
  return ordered.map(
    (
      {
        d: {
          metadata: { topic, ...meta },
          timestamp,
          ...d
        },
      },
      n,
    ) => ({
      id: `${run.id}:${n + 1}`,
      ...d,
      metadata: { topic, runId: run.id, workflowId: run.workflow, ...meta },
      timestamp,
    }),
  );
}
