// The selected step: what it did (input, output, error, attempts, model, usage, cost), what it
// waits for, a tool-loop step's transcript and work outputs, approval decisions, and the buttons its credential
// allows (approve / reject with a comment, rerun from it).
import { api, asText, badge, between, can, el, fmtCost, fmtMs, fmtTime, fmtTokens } from './api.js';
import { transcript, workOutputs } from './transcript.js';
import { waitingInWords } from './words.js';

const block = (title, value, open = true) =>
  value === null || value === undefined ? '' : el('details', { open, class: 'block' }, el('summary', {}, title), el('pre', {}, asText(value)));

function decisions(events, stepId) {
  const made = events.filter((e) => e.stepId === stepId && (e.type === 'step.approved' || e.type === 'step.rejected'));
  if (!made.length) return '';
  return el(
    'div',
    { class: 'block decisions' },
    el('h4', {}, 'Decisions'),
    made.map((e) =>
      el(
        'p',
        { class: 'decision' },
        el('strong', {}, e.type === 'step.approved' ? 'approved' : 'rejected'),
        ` by ${e.data.by ?? 'api'} at ${fmtTime(e.data.at ?? e.at)}`,
        e.data.comment ? `: “${e.data.comment}”` : '',
      ),
    ),
  );
}

/** Approve / reject with a comment, for a gate that waits for a person. */
function gateForm(run, step, after) {
  const comment = el('textarea', { name: 'comment', rows: 2, placeholder: 'A comment (optional)', id: 'gate-comment' });
  const decide = (action) => async () => {
    await after(() =>
      api(`/v1/runs/${run.id}/steps/${encodeURIComponent(step.stepId)}/${action}`, {
        method: 'POST',
        body: comment.value ? { comment: comment.value, by: 'run page' } : { by: 'run page' },
      }),
    );
  };
  return el(
    'div',
    { class: 'actions gate' },
    comment,
    el('button', { class: 'approve', id: 'approve', onclick: decide('approve') }, 'Approve'),
    el('button', { class: 'reject', id: 'reject', onclick: decide('reject') }, 'Reject'),
  );
}

function rerunButton(run, step, after) {
  const go = async () => {
    let id;
    await after(async () => ({ id } = await api(`/v1/runs/${run.id}/rerun`, { method: 'POST', body: { fromStep: step.stepId } })));
    if (id) location.assign(`/runs/${id}`);
  };
  return el(
    'button',
    { id: 'rerun', onclick: go, title: 'A new run of the same definition: the steps before this one reuse their outputs' },
    `Rerun from ${step.stepId}`,
  );
}

/**
 * The panel of `step`. `after(action)` runs a button's request and shows its error;
 * `onSelect(id)` selects another step.
 */
export function drawDetail(run, step, { me, events, after, onSelect }) {
  if (!step) return el('div', { class: 'detail muted' }, 'Select a step to see what it did.');
  const gateWaits = step.kind === 'approval' && step.status === 'waiting' && step.waitingFor?.reason === 'approval';
  const finished = ['succeeded', 'partial_success', 'failed', 'cancelled', 'budget_exceeded'].includes(run.status);
  const facts = [
    ['Kind', step.agent ? `${step.kind}, agent ${step.agent}` : step.kind],
    ['Model', step.model ?? '–'],
    ['Attempts', String(step.attempts) + (step.recovered ? ' (the last took over from a lost worker)' : '')],
    ['Usage', fmtTokens(step.usage)],
    ['Cost', fmtCost(step.usage?.costUsd)],
    ['Started', fmtTime(step.startedAt)],
    [step.finishedAt ? 'Took' : 'So far', fmtMs(between(step.startedAt, step.finishedAt))],
    step.reusedFrom ? ['Reused', `output of ${step.reusedFrom}`] : null,
    step.reason ? ['Reason', step.reason] : null,
  ].filter(Boolean);
  return el(
    'div',
    { class: 'detail', id: 'detail', 'data-step': step.stepId },
    el('h2', {}, step.stepId, ' ', badge(step.status)),
    step.waitingFor ? el('p', { class: 'waiting', id: 'waiting' }, waitingInWords(step.waitingFor)) : '',
    gateWaits && can(me, 'runs:write') ? gateForm(run, step, after) : '',
    el(
      'dl',
      { class: 'facts' },
      facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    ),
    step.error ? el('pre', { class: 'error', id: 'step-error' }, step.error) : '',
    decisions(events, step.stepId),
    block('Input', step.input),
    block('Output', step.output),
    transcript(step.stepId, step.calls, onSelect),
    workOutputs(run.outputs, step.stepId),
    step.debug
      ? block(`Last provider call (attempt ${step.debug.attempt})`, { request: step.debug.request, answer: step.debug.answer, error: step.debug.error }, false)
      : '',
    finished && !step.parent && can(me, 'runs:write') ? el('div', { class: 'actions' }, rerunButton(run, step, after)) : '',
  );
}
