/**
 * An HTTP tool of the agents file (`tools: { name: { http: ... } }`) as an AgentTool: the
 * model's arguments (checked by the loop against `input`) sent as the JSON body, or as the query
 * string of a GET, through the outbound client (egress, tries, the byte cap,
 * `Idempotency-Key: <run>.<step>.<turn>.<call>`); the answer's body is the result. What the model
 * should decide about comes back as `{ isError: true }`: a 4xx, a 5xx or a network error once
 * the tries are spent, a refused egress, a missing secret. `{{ secrets.NAME }}` in the URL and
 * header values are filled from the step's workspace; their values never appear in a result or
 * an error (an answer that echoes one has it replaced by `[secret]`).
 */
import { SealedValueError } from '../agents/keyring.js';
import { CancelledError, NonRetryableError } from '../errors/index.js';
import { excerpt } from '../errors/excerpt.js';
import type { HttpToolSpec } from '../model/tool.js';
import { OutboundNetworkError, type Outbound, type OutboundResponse } from '../net/outbound.js';
import { approvalRule } from './approval.js';
import { fillSecrets, openSecrets } from './secret-template.js';
import { redactSecrets } from '../net/redact.js';
import type { AgentTool, SecretLookup, ToolCallScope, ToolOutcome } from './tool.js';

export interface HttpToolDeps {
  /** The outbound client (src/net/outbound.ts), with the deployment's egress rules. */
  outbound: Outbound;
  /** The workspace's secrets, by name. */
  secrets: SecretLookup;
}

/** Most characters of a failed answer's body shown to the model in its error. */
const ERROR_EXCERPT_CHARS = 2000;

export function httpTool(name: string, spec: HttpToolSpec, deps: HttpToolDeps): AgentTool {
  const needsApproval = approvalRule(spec.approval, `HTTP tool "${name}"`);
  const { http } = spec;
  return {
    definition: { name, description: spec.description, inputSchema: spec.input },
    kind: 'http',
    needsApproval,
    async call(args, scope) {
      let secretValues: string[] = [];
      try {
        const opened = await openSecrets([http.url, ...Object.values(http.headers)], scope.workspace, deps.secrets);
        secretValues = [...opened.values()];
        const res = await deps.outbound({
          url: fillSecrets(http.url, opened, encodeURIComponent),
          method: http.method,
          headers: Object.fromEntries(Object.entries(http.headers).map(([k, v]) => [k, fillSecrets(v, opened)])),
          body: args,
          timeoutMs: http.timeoutMs,
          maxBytes: http.maxResultBytes,
          idempotencyKey: scope.idempotencyKey,
          attempts: http.attempts,
          signal: scope.signal,
          redact: secretValues,
        });
        const outcome = outcomeOf(res, http.maxResultBytes);
        return { ...outcome, content: redactSecrets(outcome.content, secretValues) };
      } catch (err) {
        return failed(name, err, scope, secretValues);
      }
    },
  };
}

/** The answer as the model sees it: a 2xx or 3xx its body, otherwise an error naming the status. */
function outcomeOf(res: OutboundResponse, maxResultBytes: number): ToolOutcome {
  const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
  if (res.status < 400) return { content: cut(text, res.truncated, maxResultBytes) };
  const tries = res.status >= 500 && res.attempts > 1 ? ` after ${res.attempts} tries` : '';
  return { isError: true, content: `HTTP ${res.status}${tries}: ${excerpt(text, ERROR_EXCERPT_CHARS)}` };
}

/** At most `max` UTF-8 bytes of `text`, saying so when the answer was longer. */
function cut(text: string, truncated: boolean, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (!truncated && bytes.length <= max) return text;
  // A character split at the cut is dropped rather than shown broken.
  const kept = new TextDecoder('utf-8').decode(bytes.subarray(0, max)).replace(/\uFFFD$/, '');
  return `${kept}\n[result cut at ${max} bytes: the answer was longer]`;
}

/** A call that got no answer to give: the model sees why (throws only what the step's own retries or its cancel are for). */
function failed(name: string, err: unknown, scope: ToolCallScope, secretValues: string[]): ToolOutcome {
  if (err instanceof CancelledError || scope.signal.aborted) throw err;
  // Refused egress, missing or unreadable secret, bad URL or header, tries spent: the model decides.
  if (err instanceof NonRetryableError || err instanceof OutboundNetworkError || err instanceof SealedValueError)
    return { isError: true, content: redactSecrets(`tool "${name}": ${err.message}`, secretValues) };
  throw err;
}
