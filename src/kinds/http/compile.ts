/**
 * The compile rule of `kind: http`: its url, headers and body are templated; a url without
 * templates must be an http(s) URL; a GET has no body; `{{ secrets.NAME }}` only in the url and
 * headers (the body is kept on the step's record, a secret never is).
 */
import { findTemplateRefs } from '../../lang/templates.js';
import { SecretName } from '../../model/workspace-secret.js';
import type { CompileContext, KindRule } from '../compile-rule.js';
import type { StepDefinitionOf } from '../definition.js';

/** The name a secret template reads (`{{ secrets.NAME }}`). */
export const SECRETS_VAR = 'secrets';

export const httpRule: KindRule<'http'> = {
  templated: (def) => [
    { at: 'url', value: def.url, vars: [SECRETS_VAR] },
    { at: 'headers', value: def.headers, vars: [SECRETS_VAR] },
    ...(def.body === undefined ? [] : [{ at: 'body', value: def.body, vars: [SECRETS_VAR] }]),
  ],
  check(def, ctx) {
    checkUrl(def.url, ctx);
    if (def.body !== undefined && def.method === 'GET') ctx.issue(`${ctx.path}.body`, 'a GET request has no body: use POST, PUT, PATCH or DELETE');
    checkSecrets(def, ctx);
  },
  rendered: (step) => [
    { at: 'url', value: step.url },
    { at: 'headers', value: step.headers },
    ...(step.body === undefined ? [] : [{ at: 'body', value: step.body }]),
  ],
  schemas: () => [],
  compile: (def) => ({
    kind: 'http',
    url: def.url,
    method: def.method,
    headers: def.headers,
    ...(def.body === undefined ? {} : { body: def.body }),
    ...(def.maxBytes === undefined ? {} : { maxBytes: def.maxBytes }),
  }),
};

/** A url without templates is checked now; one with templates when it is rendered. */
function checkUrl(url: string, ctx: CompileContext): void {
  if (url.includes('{{')) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    ctx.issue(`${ctx.path}.url`, `"${url.slice(0, 200)}" is not a URL (expected http://... or https://...)`);
    return;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ctx.issue(`${ctx.path}.url`, `only http and https URLs are called, not ${parsed.protocol}`);
}

/** A path segment as the compiler writes paths: `[0]`, `.name`, `["x-key"]`. */
const segment = (k: string | number): string => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);

/** `{{ secrets.NAME }}`: one name, in the url or a header only. */
function checkSecrets(def: StepDefinitionOf<'http'>, ctx: CompileContext): void {
  const at = [
    { at: 'url', value: def.url, allowed: true },
    { at: 'headers', value: def.headers, allowed: true },
    { at: 'body', value: def.body, allowed: false },
  ];
  for (const { at: where, value, allowed } of at) {
    for (const ref of findTemplateRefs(value, [SECRETS_VAR])) {
      if (ref.kind !== 'var' || ref.name !== SECRETS_VAR) continue;
      const path = `${ctx.path}.${where}${ref.at.map(segment).join('')}`;
      if (!allowed) ctx.issue(path, `${ref.raw}: secrets are allowed in the url and headers only (the body is kept on the step's record)`);
      else if (ref.path.length !== 1 || !SecretName.safeParse(ref.path[0]).success)
        ctx.issue(path, `${ref.raw}: name one secret, as {{ secrets.NAME }} (letters, digits or "_", not starting with a digit)`);
    }
  }
}
