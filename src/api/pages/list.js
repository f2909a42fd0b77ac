// /runs: the workspace's runs, newest first, filtered by status, workflow, agent and time,
// read again every few seconds while the tab is visible. The filters live in the address.
import { RUN_STATUSES, api, badge, between, el, fmtCost, fmtMs, fmtTime, showError, whoAmI } from './api.js';

const PAGE_SIZE = 50;
/** Most pages of the API one refresh reads to fill the table (a narrow filter may match few runs a page). */
const MAX_PAGES = 5;
const REFRESH_MS = 2000;
const SINCE = { '': 'any time', '15m': 'last 15 min', '1h': 'last hour', '24h': 'last 24 h', '7d': 'last 7 days' };
const SINCE_MS = { '15m': 900_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 };

const filters = () => Object.fromEntries(new URLSearchParams(location.search));

function filterForm(current) {
  const status = el(
    'select',
    { name: 'status' },
    el('option', { value: '' }, 'any status'),
    RUN_STATUSES.map((s) => el('option', { value: s, selected: current.status === s }, s)),
  );
  const since = el(
    'select',
    { name: 'since' },
    Object.entries(SINCE).map(([v, label]) => el('option', { value: v, selected: (current.since ?? '') === v }, label)),
  );
  const form = el(
    'form',
    { class: 'filters', id: 'filters' },
    el('label', {}, 'Status ', status),
    el('label', {}, 'Workflow ', el('input', { name: 'workflow', value: current.workflow ?? '', placeholder: 'pr-review' })),
    el('label', {}, 'Agent ', el('input', { name: 'agent', value: current.agent ?? '', placeholder: 'review' })),
    el('label', {}, 'Created ', since),
    el('button', { type: 'submit' }, 'Filter'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== ''));
    history.replaceState(null, '', q.size ? `/runs?${q}` : '/runs');
    void refresh();
  });
  for (const select of [status, since]) select.addEventListener('change', () => form.requestSubmit());
  return form;
}

/** The runs matching the filters: pages of the API (newest first) until the table is full, the listing ends or runs are older than `since`. */
async function matchingRuns(f) {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const k of ['status', 'workflow', 'agent']) if (f[k]) q.set(k, f[k]);
  const oldest = SINCE_MS[f.since] ? Date.now() - SINCE_MS[f.since] : 0;
  const runs = [];
  for (let page = 0; page < MAX_PAGES && runs.length < PAGE_SIZE; page++) {
    const answer = await api(`/v1/runs?${q}`);
    for (const run of answer.runs) {
      // The listing is newest first: the first run older than `since` ends it.
      if (Date.parse(run.createdAt) < oldest) return runs;
      runs.push(run);
    }
    if (!answer.nextCursor) break;
    q.set('cursor', answer.nextCursor);
  }
  return runs.slice(0, PAGE_SIZE);
}

function row(run) {
  const tokens = run.usage ? run.usage.inputTokens + run.usage.outputTokens : 0;
  return el(
    'tr',
    { 'data-run': run.id },
    el('td', {}, el('a', { href: `/runs/${run.id}` }, run.id)),
    el('td', {}, run.workflow),
    el('td', {}, badge(run.status)),
    el('td', {}, run.agents.join(', ')),
    el('td', {}, fmtTime(run.createdAt)),
    el('td', { class: 'num' }, fmtMs(between(run.startedAt ?? run.createdAt, run.finishedAt))),
    el('td', { class: 'num' }, String(tokens)),
    el('td', { class: 'num' }, fmtCost(run.usage?.costUsd)),
  );
}

let table;
let timer;

async function refresh() {
  clearTimeout(timer);
  try {
    const runs = await matchingRuns(filters());
    const head = el(
      'tr',
      {},
      ['Run', 'Workflow', 'Status', 'Agents', 'Created', 'Duration', 'Tokens', 'Cost'].map((h) => el('th', {}, h)),
    );
    table.replaceChildren(
      el('thead', {}, head),
      el('tbody', {}, runs.length ? runs.map(row) : el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No run matches.'))),
    );
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    showError(err);
    return;
  }
  // A hidden tab reads nothing; it reads again when it is shown (visibilitychange).
  if (!document.hidden) timer = setTimeout(() => void refresh(), REFRESH_MS);
}

async function start() {
  const me = await whoAmI();
  if (!me)
    return showError(
      await api('/v1/runs?limit=1').then(
        () => new Error('no credential'),
        (e) => e,
      ),
    );
  table = el('table', { class: 'runs', id: 'runs' });
  document.getElementById('main').replaceChildren(el('h1', {}, 'Runs ', el('small', { id: 'updated', class: 'muted' })), filterForm(filters()), table);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && void refresh());
  await refresh();
}

start().catch(showError);
