// A tool-loop step's transcript, compact: one row per call (turn, tool, its arguments, what it
// came to: the result, the error the model was given, the step a delegation became, a person's
// decision on a call that waited for one), each long part cut to a line that opens in place.
// And the work outputs a step emitted (emit_output).
import { asText, el, fmtTime } from './api.js';

/** Characters of a part shown on its row before it opens. */
const LINE = 140;

/** `text` on one line, opening to the whole of it when longer (`key`: it stays open when the page is drawn again). */
function part(text, key, cls = '', full = text) {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= LINE && !text.includes('\n')) return el('span', { class: `part ${cls}` }, flat);
  return el('details', { class: `part ${cls}`, 'data-key': key }, el('summary', {}, `${flat.slice(0, LINE)}…`), el('pre', {}, full));
}

/** A person's decision on a call that waited for one (`approval` on the call: `{approved, by, comment, at}`, or `{waiting: true}`). */
function decision(a) {
  if (!a) return '';
  if (a.waiting) return el('div', { class: 'approval waiting' }, el('strong', {}, 'waits for a decision'));
  const made = a.approved ? 'approved' : 'rejected';
  return el(
    'div',
    { class: `approval ${made}` },
    el('strong', {}, made),
    a.by ? ` by ${a.by}` : '',
    a.at ? ` at ${fmtTime(a.at)}` : '',
    a.comment ? `: “${a.comment}”` : '',
  );
}

function outcome(c, key, onSelect) {
  if (c.error !== undefined) return part(c.error, key, 'error');
  if (c.step) return ['→ ', el('button', { class: 'link', onclick: () => onSelect(c.step) }, c.step), c.result !== undefined ? [' ', part(c.result, key)] : ''];
  if (c.result !== undefined) return part(c.result, key);
  return el('span', { class: 'muted' }, 'no result yet');
}

/** The tool calls of `stepId`'s turns, a row each; a turn's first row names it. */
export function transcript(stepId, calls, onSelect) {
  if (!calls?.length) return '';
  const turns = new Set(calls.map((c) => c.turn)).size;
  let last;
  const rows = calls.map((c) => {
    const key = `${stepId}/${c.turn}/${c.id}`;
    const first = c.turn !== last;
    last = c.turn;
    return el(
      'tr',
      { class: `call${c.error !== undefined ? ' refused' : ''}${first ? ' first' : ''}`, 'data-turn': String(c.turn), 'data-tool': c.name },
      el('td', { class: 'turn' }, first ? String(c.turn) : ''),
      el('td', { class: 'tool' }, el('code', {}, c.name)),
      el('td', { class: 'args' }, part(JSON.stringify(c.args ?? null), `${key}/args`, '', JSON.stringify(c.args ?? null, null, 2))),
      el('td', { class: 'outcome' }, outcome(c, `${key}/outcome`, onSelect), decision(c.approval)),
    );
  });
  return el(
    'details',
    { open: true, class: 'block transcript' },
    el('summary', {}, `Transcript: ${calls.length} call${calls.length === 1 ? '' : 's'} in ${turns} turn${turns === 1 ? '' : 's'}`),
    el(
      'table',
      { class: 'calls' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Turn'), el('th', {}, 'Tool'), el('th', {}, 'Arguments'), el('th', {}, 'Result'))),
      el('tbody', {}, rows),
    ),
  );
}

/** The work outputs `stepId` emitted, each opening to its content. */
export function workOutputs(outputs, stepId) {
  const mine = (outputs ?? []).filter((o) => o.stepId === stepId);
  if (!mine.length) return '';
  return el(
    'div',
    { class: 'block outputs', id: 'work-outputs' },
    el('h4', {}, 'Work outputs'),
    mine.map((o) =>
      el(
        'details',
        { class: 'output', 'data-output': o.name, 'data-key': `${stepId}/output/${o.name}` },
        el('summary', {}, el('strong', {}, o.name), ` · ${o.format}, turn ${o.turn}${o.updatedAt ? ', replaced' : ''}`),
        el('pre', {}, o.format === 'json' ? asText(safeJson(o.content)) : o.content),
      ),
    ),
  );
}

const safeJson = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
