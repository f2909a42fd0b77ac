// The waterfall: one row per step, and on it each attempt as its own bars, from the run's event
// log: the queue wait (ready to started: behind a worker slot, a rate limit, a backoff) apart
// from the run time (started to its end), and the time a started step waited (for the steps it
// added, or for an approval) apart again.
import { el, fmtMs } from './api.js';

const ENDINGS = {
  'step.completed': 'succeeded',
  'step.failed': 'failed',
  'step.cancelled': 'cancelled',
  'step.skipped': 'skipped',
  'step.retrying': 'retried',
};

/** When a step could first start: its dependencies' latest end, else when it was added, else the run's creation. */
function firstReady(step, byId, run) {
  const ends = step.dependsOn.map((d) => byId.get(d)?.finishedAt).filter(Boolean);
  if (ends.length) return ends.sort().at(-1);
  return step.parent ? step.createdAt : run.createdAt;
}

/** Per step id, its attempts: `{attempt, readyAt, startedAt, endedAt, outcome, waits: [{from, to}]}` (ISO times; null: not yet). */
export function attemptsOf(run, events) {
  const byId = new Map(run.steps.map((s) => [s.stepId, s]));
  const out = new Map(run.steps.map((s) => [s.stepId, []]));
  const nextReady = new Map();
  for (const e of events) {
    if (!e.stepId || !out.has(e.stepId)) continue;
    const list = out.get(e.stepId);
    const last = list.at(-1);
    const open = last && last.endedAt === null ? last : undefined;
    if (e.type === 'step.started') {
      if (open) open.endedAt = e.at; // a recovered attempt took over from a lost one
      if (open) open.outcome = 'lost';
      const readyAt = nextReady.get(e.stepId) ?? firstReady(byId.get(e.stepId), byId, run);
      list.push({
        attempt: e.data?.attempt ?? list.length + 1,
        readyAt: readyAt < e.at ? readyAt : e.at,
        startedAt: e.at,
        endedAt: null,
        outcome: 'running',
        waits: [],
      });
    } else if (e.type === 'step.waiting' && open) {
      open.waits.push({ from: e.at, to: null, why: e.data?.reason ?? 'the steps it added' });
    } else if (e.type === 'step.resumed' && open?.waits.at(-1)) {
      open.waits.at(-1).to ??= e.at;
    } else if (ENDINGS[e.type]) {
      if (e.type === 'step.retrying') {
        const until = e.data?.retryAt ?? (e.data?.retryAfterMs ? new Date(Date.parse(e.at) + e.data.retryAfterMs).toISOString() : e.at);
        nextReady.set(e.stepId, until);
      }
      if (!open) continue; // skipped or cancelled before it started
      open.endedAt = e.at;
      open.outcome = ENDINGS[e.type];
      open.error = e.data?.error;
      for (const w of open.waits) w.to ??= e.at;
    }
  }
  // Without its events (an archived run read before its log), the record's own times.
  for (const s of run.steps)
    if (!out.get(s.stepId).length && s.startedAt)
      out.get(s.stepId).push({ attempt: s.attempts, readyAt: s.startedAt, startedAt: s.startedAt, endedAt: s.finishedAt, outcome: s.status, waits: [] });
  return out;
}

/** The steps in their order, each followed by the steps it added (and theirs), with their depth. */
function nestedOrder(steps) {
  const ids = new Set(steps.map((s) => s.stepId));
  const kids = new Map();
  for (const s of steps) if (s.parent && ids.has(s.parent)) kids.set(s.parent, [...(kids.get(s.parent) ?? []), s]);
  const out = [];
  const visit = (s, depth) => {
    out.push({ ...s, depth });
    for (const k of kids.get(s.stepId) ?? []) visit(k, depth + 1);
  };
  for (const s of steps) if (!s.parent || !ids.has(s.parent)) visit(s, 0);
  return out;
}

/** The waterfall of `run` from `events`; `now` ends bars still open. */
export function drawTimeline(run, events, { selected, onSelect, now = Date.now() }) {
  const attempts = attemptsOf(run, events);
  const t0 = Date.parse(run.createdAt);
  const t1 = Math.max(run.finishedAt ? Date.parse(run.finishedAt) : now, t0 + 1);
  const pct = (iso) => (((iso ? Date.parse(iso) : now) - t0) / (t1 - t0)) * 100;
  const bar = (cls, from, to, title) => {
    const b = el('div', { class: `bar ${cls}`, title });
    b.style.left = `${Math.max(0, pct(from))}%`;
    b.style.width = `${Math.max(0.4, pct(to) - pct(from))}%`;
    return b;
  };
  const span = (from, to) => fmtMs((to ? Date.parse(to) : now) - Date.parse(from));
  const rows = nestedOrder(run.steps).map((s) => {
    const track = el('div', { class: 'track' });
    for (const a of attempts.get(s.stepId)) {
      if (a.startedAt > a.readyAt) track.append(bar('queued', a.readyAt, a.startedAt, `attempt ${a.attempt}: queued ${span(a.readyAt, a.startedAt)}`));
      track.append(
        bar(
          `ran ${a.outcome}`,
          a.startedAt,
          a.endedAt,
          `attempt ${a.attempt}: ran ${span(a.startedAt, a.endedAt)} (${a.outcome})${a.error ? `: ${a.error}` : ''}`,
        ),
      );
      for (const w of a.waits) track.append(bar('waited', w.from, w.to, `attempt ${a.attempt}: waited ${span(w.from, w.to)} for ${w.why}`));
    }
    const label = el('button', { class: 'link step-label', 'data-step': s.stepId, onclick: () => onSelect(s.stepId) }, s.stepId);
    label.style.paddingLeft = `${s.depth}em`;
    return el(
      'div',
      { class: `row${s.stepId === selected ? ' selected' : ''}`, 'data-step': s.stepId, 'data-attempts': attempts.get(s.stepId).length },
      label,
      track,
    );
  });
  const legend = el(
    'p',
    { class: 'legend muted' },
    el('span', { class: 'key queued' }),
    ' queued ',
    el('span', { class: 'key ran succeeded' }),
    ' ran ',
    el('span', { class: 'key ran running' }),
    ' running ',
    el('span', { class: 'key ran retried' }),
    ' attempt retried ',
    el('span', { class: 'key waited' }),
    ' waited (added steps, approval) · ',
    `${fmtMs(t1 - t0)} in all`,
  );
  return el('div', { class: 'timeline', id: 'timeline' }, rows, legend);
}
