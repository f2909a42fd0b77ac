/**
 * What POST /v1/runs answers a body that fits none of its shapes (`{}`, or a body written for
 * another API, such as the seeds' `{agent_type, task}`): the shapes it takes, and the closest
 * one to what was sent, rewritten with the values sent where they are plain to see.
 */
import { excerpt } from '../errors/excerpt.js';
import { PatternFields } from '../compile/patterns.js';
import { HttpError, parseOr422 } from './errors.js';
import { SubmitAgentRun, SubmitCapabilityRun, SubmitPatternRun, SubmitWorkflowRun, type SubmitRun } from './schemas.js';

interface Shape {
  /** What it is, for the message. */
  what: string;
  /** Its fields. */
  fields: readonly string[];
  /** Fields other APIs use for the same thing. */
  aliases: readonly string[];
  /** The shape filled in with what `body` carries. */
  example: (body: Record<string, unknown>) => Record<string, unknown>;
}

const first = (body: Record<string, unknown>, names: readonly string[]): unknown => names.map((n) => body[n]).find((v) => v !== undefined);
const text = (v: unknown, fallback: string): string => (typeof v === 'string' && v.length > 0 ? excerpt(v, 80) : fallback);

const AGENT_ALIASES = ['agent_type', 'agentType', 'agent_id', 'agentId', 'agent_name', 'agentName', 'type'];
const TASK_ALIASES = ['task', 'prompt', 'message', 'query', 'question', 'content', 'text'];
const WORKFLOW_ALIASES = ['workflow_id', 'workflowId', 'workflow_name', 'workflowName', 'flow', 'steps', 'name'];
const patternFields = [...new Set(Object.values(PatternFields).flatMap((f) => Object.keys(f)))];

/** Most characters of a definition sent bare that the suggestion repeats; past it, its steps are elided. */
const MAX_SHOWN_DEFINITION = 400;

/** A workflow definition sent as the body itself: the suggestion wraps it (the name alone names no stored workflow). */
function inline(body: Record<string, unknown>): unknown {
  if (JSON.stringify(body).length <= MAX_SHOWN_DEFINITION) return body;
  const steps = Array.isArray(body.steps) ? `<your ${body.steps.length} steps>` : '<your steps>';
  return { ...(typeof body.name === 'string' ? { name: excerpt(body.name, 80) } : {}), steps };
}

const SHAPES: Shape[] = [
  {
    what: 'one agent on a task',
    fields: ['agent', 'input'],
    aliases: [...AGENT_ALIASES, ...TASK_ALIASES, 'context'],
    example: (b) => ({
      agent: text(first(b, AGENT_ALIASES), '<agent name, see GET /v1/agents>'),
      input: { task: text(first(b, TASK_ALIASES), '<what to do>') },
    }),
  },
  {
    what: 'an agent chosen by capability',
    fields: ['capability', 'input', 'constraints'],
    aliases: ['skill', 'capabilities', 'task_type', 'taskType'],
    example: (b) => ({
      capability: text(first(b, ['skill', 'task_type', 'taskType']), '<capability name, see GET /v1/agents?capability=>'),
      input: { task: text(first(b, TASK_ALIASES), '<what to do>') },
    }),
  },
  {
    what: 'a workflow, by name or inline',
    fields: ['workflow', 'input'],
    aliases: WORKFLOW_ALIASES,
    example: (b) => ({
      workflow:
        'steps' in b
          ? inline(b)
          : text(
              first(
                b,
                WORKFLOW_ALIASES.filter((a) => a !== 'steps'),
              ),
              '<workflow name, see GET /v1/workflows>',
            ),
      input: {},
    }),
  },
  {
    what: 'a collaboration pattern',
    fields: patternFields,
    aliases: ['mode', 'strategy'],
    example: (b) => ({ pattern: text(first(b, ['mode', 'strategy']), 'sequential'), tasks: [{ agent: '<agent name>', task: '<what to do>' }] }),
  },
];

const ACCEPTED =
  'POST /v1/runs takes one of: {"agent", "input": {"task"}} (one agent on a task), {"capability", "input": {"task"}, "constraints"?} (an agent chosen by capability), {"workflow", "input"} (a workflow, by name or inline), or {"pattern": "sequential" | "parallel" | "hierarchical" | "consensus", ...its fields} (see the README)';

/** The 422 for a body with none of `agent`, `capability`, `workflow` and `pattern`. */
export function noShapeError(body: Record<string, unknown>): HttpError {
  const sent = Object.keys(body);
  const score = (s: Shape) => sent.filter((k) => s.fields.includes(k)).length * 2 + sent.filter((k) => s.aliases.includes(k)).length;
  // Ties (an empty body) go to the simplest shape, an agent task.
  const closest = SHAPES.reduce((best, s) => (score(s) > score(best) ? s : best), SHAPES[0]!);
  const got = sent.length
    ? `got ${sent
        .slice(0, 10)
        .map((k) => JSON.stringify(k))
        .join(', ')}${sent.length > 10 ? ', ...' : ''}`
    : 'got an empty object';
  const message = `${ACCEPTED}; ${got}. Closest: ${closest.what}, e.g. ${JSON.stringify(closest.example(body))}`;
  return new HttpError(422, 'invalid_request', message, [{ path: '(body)', message }]);
}

/** POST /v1/runs's body, parsed by the shape its discriminating field names, so errors name that shape's fields. */
export function parseSubmitRun(raw: unknown): SubmitRun {
  // A body that is not a JSON object was answered already (app.ts); none at all is `{}`.
  const body = raw as Record<string, unknown>;
  if ('pattern' in body) return parseOr422(SubmitPatternRun, body);
  if ('agent' in body) return parseOr422(SubmitAgentRun, body);
  if ('capability' in body) return parseOr422(SubmitCapabilityRun, body);
  if ('workflow' in body) return parseOr422(SubmitWorkflowRun, body);
  throw noShapeError(body);
}
