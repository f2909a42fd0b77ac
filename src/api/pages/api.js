// What every page shares: reading the API with the browser's credential, building DOM without
// innerHTML (every value is text), and formatting.

/** Sent with every request: a request made with the session cookie needs it to change anything. */
const PAGE_HEADERS = { 'x-switchyard-page': '1' };

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'partial_success', 'failed', 'cancelled', 'budget_exceeded'];
export const TERMINAL = new Set(['succeeded', 'partial_success', 'failed', 'cancelled', 'budget_exceeded']);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The API's JSON answer to `path`, or an ApiError carrying the API's own message. */
export async function api(path, { method = 'GET', body } = {}) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { ...PAGE_HEADERS, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const answer = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, answer?.error?.message ?? `${method} ${path} answered ${res.status}`);
  return answer;
}

/** An element with attributes (`on*` functions become listeners) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const badge = (status) => el('span', { class: `badge status-${status}`, 'data-status': status }, status.replace('_', ' '));

/** Who the page acts as (GET /v1/me), shown in the header; null when no credential reads runs. */
export async function whoAmI() {
  try {
    const me = await api('/v1/me');
    const who = document.getElementById('who');
    who.replaceChildren(
      me.kind === 'open' ? 'open development mode' : `${me.workspace} · ${me.scopes.join(', ')}`,
      me.kind === 'session' ? el('button', { class: 'link', onclick: logout }, 'log out') : '',
    );
    return me;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
}

async function logout() {
  await fetch('/admin/logout', { method: 'POST', credentials: 'same-origin' });
  location.reload();
}

export const can = (me, scope) => Boolean(me && (me.scopes.includes(scope) || me.scopes.includes('admin')));

/** The page's main area replaced by `err`: a login link when the credential is missing or refused. */
export function showError(err) {
  const main = document.getElementById('main');
  if (err instanceof ApiError && err.status === 401) {
    const next = encodeURIComponent(location.pathname + location.search);
    main.replaceChildren(el('p', { class: 'error' }, err.message), el('p', {}, el('a', { href: `/admin/login?next=${next}` }, 'Log in with an API key')));
    return;
  }
  main.replaceChildren(el('p', { class: 'error' }, err instanceof Error ? err.message : String(err)));
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
export const fmtCost = (usd) => (usd === undefined || usd === null ? '–' : `$${usd < 0.01 && usd > 0 ? usd.toFixed(6) : usd.toFixed(4)}`);
export const fmtTokens = (u) => (u ? `${u.inputTokens} in / ${u.outputTokens} out` : '–');
export const between = (from, to) => (from ? (to ? Date.parse(to) : Date.now()) - Date.parse(from) : null);

/** A value as readable text: strings as they are, anything else as indented JSON. */
export const asText = (v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));
