// /runs/:id: one run drawn (its DAG, the waterfall of its steps, the selected step, its budget),
// kept live by its event stream (GET /v1/runs/:id/events): each event is added to the waterfall
// and the run is read again, until `run.finished`.
import { TERMINAL, ApiError, api, badge, between, can, el, fmtCost, fmtMs, fmtTime, fmtTokens, showError, whoAmI } from './api.js';
import { drawDag } from './dag.js';
import { drawDetail } from './detail.js';
import { applyDelta, drawStreaming, showDelta } from './streaming.js';
import { drawTimeline } from './timeline.js';
import { budgetLines, waitingInWords } from './words.js';

// The event types the stream names (RUN_EVENT_TYPES, given by the page's shell: one list, in src/model/run.ts).
const EVENT_TYPES = document.body.dataset.eventTypes.split(' ');
/** Why a step of the run waits on a limit: shown beside the budget. */
const HELD = new Set(['rate_limit', 'provider_pause', 'provider_capacity']);

const runId = document.body.dataset.run;
const state = { run: null, joins: new Map(), events: [], seen: new Set(), selected: new URL(location.href).searchParams.get('step'), me: null, message: '' };
/** The text of each streaming step so far, by step id (streaming.js). */
const streams = new Map();

async function load() {
  const run = await api(`/v1/runs/${runId}?include=definition`);
  state.joins = new Map((run.definition?.steps ?? []).filter((s) => s.join).map((s) => [s.id, s.join]));
  delete run.definition;
  state.run = run;
}

/** Run a button's request, then read the run again; its error is shown above the panels. */
async function after(action) {
  state.message = '';
  try {
    await action();
  } catch (err) {
    state.message = err instanceof ApiError ? err.message : String(err);
  }
  await load().catch(() => undefined);
  render();
}

function select(id) {
  state.selected = id;
  const url = new URL(location.href);
  url.searchParams.set('step', id);
  history.replaceState(null, '', url);
  render();
}

function summary(run) {
  const held = run.steps.filter((s) => s.waitingFor && HELD.has(s.waitingFor.reason));
  const lines = budgetLines(run);
  return el(
    'section',
    { class: 'summary' },
    el(
      'dl',
      { class: 'facts' },
      [
        ['Workflow', run.workflow],
        ['Created', fmtTime(run.createdAt)],
        [run.finishedAt ? 'Took' : 'So far', fmtMs(between(run.startedAt ?? run.createdAt, run.finishedAt))],
        ['Usage', fmtTokens(run.usage)],
        ['Cost', fmtCost(run.usage?.costUsd)],
        run.rerunOf ? ['Rerun of', el('a', { href: `/runs/${run.rerunOf}` }, run.rerunOf)] : null,
      ]
        .filter(Boolean)
        .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    ),
    lines.length || held.length
      ? el(
          'div',
          { class: 'budget', id: 'budget' },
          el('h3', {}, 'Budget'),
          lines.map((l) => el('div', { class: 'meter' }, el('span', {}, `${l.name}: ${l.text}`), l.limit ? meter(l.spent / l.limit) : '')),
          held.map((s) => el('p', { class: 'held' }, el('strong', {}, s.stepId), ` ${waitingInWords(s.waitingFor)}`)),
        )
      : '',
  );
}

function meter(fraction) {
  const m = el('progress', { max: 1, value: Math.min(1, fraction) });
  if (fraction >= 0.8) m.classList.add('high');
  return m;
}

/** Draw the page again, keeping what a person is typing (the gate's comment), where the focus is, and what they opened. */
function render() {
  const { run, me } = state;
  if (!run) return;
  const focused = document.activeElement?.id;
  const comment = document.getElementById('gate-comment')?.value;
  const opened = new Set([...document.querySelectorAll('#main details[data-key][open]')].map((d) => d.dataset.key));
  draw(run, me);
  for (const d of document.querySelectorAll('#main details[data-key]')) if (opened.has(d.dataset.key)) d.open = true;
  const box = document.getElementById('gate-comment');
  if (box && comment) box.value = comment;
  if (focused) document.getElementById(focused)?.focus();
}

function draw(run, me) {
  const step =
    run.steps.find((s) => s.stepId === state.selected) ??
    run.steps.find((s) => s.waitingFor?.reason === 'approval') ??
    run.steps.find((s) => s.status === 'failed');
  const live = !TERMINAL.has(run.status);
  const header = el(
    'div',
    { class: 'title' },
    el('h1', {}, run.id, ' ', badge(run.status)),
    live && can(me, 'runs:write')
      ? el('button', { id: 'cancel', class: 'reject', onclick: () => void after(() => api(`/v1/runs/${run.id}/cancel`, { method: 'POST' })) }, 'Cancel run')
      : '',
    el('span', { class: 'muted', id: 'live' }, live ? 'live' : ''),
  );
  document
    .getElementById('main')
    .replaceChildren(
      header,
      state.message ? el('p', { class: 'error', id: 'message' }, state.message) : '',
      run.error ? el('pre', { class: 'error', id: 'run-error' }, run.error) : '',
      summary(run),
      el(
        'section',
        { class: 'panels' },
        el('div', { class: 'dag-box', id: 'dag' }, drawDag(run.dag, { joins: state.joins, selected: step?.stepId, onSelect: select })),
        drawDetail(run, step, { me, events: state.events, after, onSelect: select }),
      ),
      live ? drawStreaming(run, step, streams) : '',
      el('h3', {}, 'Timeline'),
      drawTimeline(run, state.events, { selected: step?.stepId, onSelect: select }),
    );
}

let reading;
/** Read the run again after a burst of events: at most one read at a time, one more queued. */
function reread() {
  if (reading) return (reading.again = true);
  reading = { again: false };
  setTimeout(async () => {
    try {
      await load();
      render();
    } catch (err) {
      state.message = err.message;
    }
    const again = reading.again;
    reading = undefined;
    if (again) reread();
  }, 50);
}

function follow() {
  const source = new EventSource(`/v1/runs/${runId}/events`);
  const onEvent = (msg) => {
    if (state.seen.has(msg.lastEventId)) return;
    state.seen.add(msg.lastEventId);
    const event = JSON.parse(msg.data);
    state.events.push(event);
    if (event.type === 'run.finished') source.close();
    reread();
  };
  for (const type of EVENT_TYPES) if (type !== 'step.delta') source.addEventListener(type, onEvent);
  // Live only, without an id: not in the timeline, the run not read again.
  source.addEventListener('step.delta', (msg) => {
    const event = JSON.parse(msg.data);
    if (applyDelta(streams, event)) showDelta(streams, event, render);
  });
}

async function start() {
  state.me = await whoAmI();
  if (!state.me)
    throw (
      (await api(`/v1/runs/${runId}`).then(
        () => null,
        (e) => e,
      )) ?? new Error('this credential cannot read runs')
    );
  await load();
  render();
  follow();
  // Open bars grow, and deadlines count down, between events.
  setInterval(() => {
    if (TERMINAL.has(state.run.status)) return;
    const step = document.querySelector('.row.selected')?.dataset.step;
    document.getElementById('timeline')?.replaceWith(drawTimeline(state.run, state.events, { selected: step, onSelect: select }));
  }, 1000);
}

start().catch(showError);
