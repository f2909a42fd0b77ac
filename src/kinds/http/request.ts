/**
 * An http step's request as it is sent, rendered over the step's scope: its url, headers and
 * body with their templates filled in, `{{ secrets.NAME }}` with the workspace's secrets. What
 * the step's record keeps (`shown`) and what messages name (`what`) never hold a secret: there
 * each secret stays `{{ secrets.NAME }}`, and messages leave out the url's query.
 */
import { NonRetryableError } from '../../errors/index.js';
import { findTemplateRefs } from '../../lang/templates.js';
import type { CompiledStepOf } from '../definition.js';
import type { HttpMethod } from './schema.js';
import type { ExecutionContext } from '../executor.js';
import { renderWith, scopeOf } from '../shared/scope.js';
import { SECRETS_VAR } from './compile.js';

export interface HttpRequestParts {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  /** The body, sent as JSON by the outbound client. */
  body?: unknown;
  /** The request as the step's record keeps it (the input shown for the step). */
  shown: { method: string; url: string; headers: Record<string, string>; body?: unknown };
  /** The request in messages: method and url without its query, e.g. `POST https://hooks.example/x`. */
  what: string;
}

/** The names of the secrets a step's url and headers read. */
export function secretNames(step: Pick<CompiledStepOf<'http'>, 'url' | 'headers'>): string[] {
  const refs = findTemplateRefs([step.url, step.headers], [SECRETS_VAR]);
  return [...new Set(refs.flatMap((r) => (r.kind === 'var' && r.name === SECRETS_VAR && r.path.length === 1 ? [r.path[0]!] : [])))];
}

/** The request of `step`, rendered; `secrets`: the values of the secrets it reads (see secretNames). */
export function renderRequest(
  step: CompiledStepOf<'http'>,
  ctx: Pick<ExecutionContext, 'runInput' | 'reads' | 'context' | 'bounds'>,
  secrets: Record<string, string> = {},
): HttpRequestParts {
  const scope = scopeOf(ctx);
  // The same templates twice: with the secrets (sent), and with each secret as its own template (kept and shown).
  const kept = Object.fromEntries(secretNames(step).map((n) => [n, `{{ ${SECRETS_VAR}.${n} }}`]));
  const render = <T>(value: T, what: string, values: Record<string, string>): T => renderWith(value, scope, what, { [SECRETS_VAR]: values });
  const url = render(step.url, 'the url', secrets);
  const shownUrl = render(step.url, 'the url', kept);
  const headers = render(step.headers, 'the headers', secrets);
  const shownHeaders = render(step.headers, 'the headers', kept);
  const body = step.body === undefined ? undefined : renderWith(step.body, scope, 'the body');
  const what = `${step.method} ${withoutQuery(shownUrl)}`;
  checkUrl(url, shownUrl);
  for (const [name, value] of Object.entries(headers))
    if (/[\r\n\0]/.test(value)) throw new NonRetryableError(`header "${name}" renders to a value with a line break or NUL, which HTTP does not allow`);
  return {
    method: step.method,
    url,
    headers,
    ...(body === undefined ? {} : { body }),
    shown: { method: step.method, url: shownUrl, headers: shownHeaders, ...(body === undefined ? {} : { body }) },
    what,
  };
}

/** A rendered url must be http(s); the message shows it as kept (no secret). */
function checkUrl(url: string, shown: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NonRetryableError(`the url renders to "${shown.slice(0, 200)}", which is not a URL (expected http://... or https://...)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new NonRetryableError(`only http and https URLs are called, not ${parsed.protocol} (url "${shown.slice(0, 200)}")`);
}

function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}
