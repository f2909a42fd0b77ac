// What a step waits for (`waitingFor` of GET /v1/runs/:id), and a run's budget, in words.
import { fmtCost, fmtMs, fmtTime } from './api.js';

const until = (iso) => `${fmtTime(iso)} (in ${fmtMs(Math.max(0, Date.parse(iso) - Date.now()))})`;

export function waitingInWords(w) {
  switch (w.reason) {
    case 'dependencies':
      return `waits for ${w.steps.join(', ')} to finish`;
    case 'children':
      return `waits for the steps it added to finish: ${w.steps.join(', ')}`;
    case 'approval':
      return `waits for a person to approve or reject it; ${w.deadline ? `if nobody does, it decides by itself at ${until(w.deadline)}` : 'it has no deadline'}`;
    case 'no_worker':
      return `no live worker serves its queue ${w.queue}: start a worker process that serves ${w.agent ? `the agent "${w.agent}"` : 'it'}`;
    case 'rate_limit':
      return `held by the rate limit of its queue ${w.queue} until ${until(w.until)}`;
    case 'provider_pause':
      return `its provider answered 429 or overloaded: the queue ${w.queue} is paused until ${until(w.until)}`;
    case 'provider_capacity':
      return `held by a limit: ${w.detail}; it tries again at ${until(w.until)}`;
    case 'retry_backoff':
      return `an attempt failed; the next one starts at ${until(w.until)}`;
    case 'worker_slot':
      return `queued on ${w.queue}: a worker takes it when one of its slots is free`;
    case 'worker_lost':
      return `the worker running it was lost${w.worker ? ` (${w.worker})` : ''}: ${w.until ? `another takes it over by ${until(w.until)}` : 'it goes on once a worker serves its queue'}`;
    default:
      return JSON.stringify(w);
  }
}

/** Each limit of the run's budget with what the run spent against it. */
export function budgetLines(run) {
  const b = run.budget;
  if (!b) return [];
  const used = run.usage ?? { inputTokens: 0, outputTokens: 0 };
  const lines = [];
  if (b.maxCostUsd !== undefined)
    lines.push({ name: 'maxCostUsd', spent: used.costUsd ?? 0, limit: b.maxCostUsd, text: `${fmtCost(used.costUsd ?? 0)} of ${fmtCost(b.maxCostUsd)}` });
  if (b.maxTokens !== undefined) {
    const t = used.inputTokens + used.outputTokens;
    lines.push({ name: 'maxTokens', spent: t, limit: b.maxTokens, text: `${t} of ${b.maxTokens} tokens` });
  }
  if (b.maxSteps !== undefined) {
    const started = run.steps.filter((s) => ['agent', 'plan', 'synthesize'].includes(s.kind) && s.attempts > 0 && !s.reusedFrom).length;
    lines.push({ name: 'maxSteps', spent: started, limit: b.maxSteps, text: `${started} of ${b.maxSteps} model steps started` });
  }
  if (b.deadlineMs !== undefined) {
    const spent = (run.finishedAt ? Date.parse(run.finishedAt) : Date.now()) - Date.parse(run.createdAt);
    lines.push({ name: 'deadlineMs', spent, limit: b.deadlineMs, text: `${fmtMs(spent)} of ${fmtMs(b.deadlineMs)}` });
  }
  if (run.reserved) lines.push({ name: 'reserved', text: `${run.reserved.tokens} tokens, ${fmtCost(run.reserved.costUsd)} held by calls in flight` });
  return lines;
}
