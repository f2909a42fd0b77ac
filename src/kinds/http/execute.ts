/**
 * `kind: http`, run by the engine on its control queue (no agent, no provider): one request
 * through the outbound client (src/net/outbound.ts: egress rules, timeout, byte cap), tried
 * once per attempt: the step's own attempts and backoff retry a 5xx or a network error, as
 * for any step (the error's class tells the step machine). Every delivery sends the same
 * `Idempotency-Key: <run>.<step>`, so a service that honours it acts once even when the
 * answer is lost. The answer is the step's output, recorded before its job completes.
 */
import { NonRetryableError, StepTimeoutError } from '../../errors/index.js';
import { SealedValueError } from '../../agents/keyring.js';
import type { Outbound, OutboundResponse } from '../../net/outbound.js';
import { MissingSecretError, openNamed } from '../../tools/secret-template.js';
import { redactSecrets } from '../../net/redact.js';
import type { SecretLookup } from '../../tools/tool.js';
import type { StepExecutor } from '../executor.js';
import { renderRequest, secretNames } from './request.js';
import { outputOf } from './response.js';

/** How much later than the step's timeout the client gives up by itself. */
const CLIENT_TIMEOUT_MARGIN_MS = 1_000;

export interface HttpExecutorDeps {
  /** The one outbound HTTP client of the process (src/net/outbound.ts). */
  outbound: Outbound;
  /** A secret of a workspace by name (`{{ secrets.NAME }}`); absent: no step may read one. */
  secrets?: SecretLookup | undefined;
}

export function httpExecutor(deps: HttpExecutorDeps): StepExecutor<'http'> {
  return {
    async execute(step, ctx) {
      const secrets = await secretsOf(secretNames(step), ctx.workspaceId, deps.secrets);
      const req = renderRequest(step, ctx, secrets);
      ctx.record({ input: req.shown });
      const maxBytes = Math.min(step.maxBytes ?? ctx.bounds.maxOutputBytes, ctx.bounds.maxOutputBytes);
      let res: OutboundResponse;
      try {
        res = await deps.outbound({
          url: req.url,
          method: req.method,
          headers: req.headers,
          ...(req.body === undefined ? {} : { body: req.body }),
          // The step's own timeout (its signal) ends a slow call, named as a step timeout; this is only a backstop.
          timeoutMs: ctx.timeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
          maxBytes,
          // The same on every delivery of the step: a retry after a lost answer is recognised.
          idempotencyKey: `${ctx.runId}.${step.id}`,
          // One try: the step's attempts and backoff are the retries (recorded, visible as step.retrying).
          attempts: 1,
          signal: ctx.signal,
          redact: Object.values(secrets),
        });
      } catch (err) {
        // The step's timeout aborted the call: say so (retryable), rather than "cancelled".
        if (ctx.signal.aborted && ctx.signal.reason instanceof StepTimeoutError) throw ctx.signal.reason;
        // A refusal (egress, a bad url) named by its request, never showing a secret.
        if (err instanceof NonRetryableError && !err.message.startsWith(req.what))
          throw new NonRetryableError(`${req.what}: ${redactSecrets(err.message, Object.values(secrets))}`, err.status, { cause: err });
        throw err;
      }
      // A success cut short cannot be the output; an error's body is only shown, cut anyway.
      if (res.truncated && res.status >= 200 && res.status < 300)
        throw new NonRetryableError(
          `${req.what} answered ${res.status} with a body of more than ${maxBytes} bytes (maxBytes, at most SWITCHYARD_MAX_OUTPUT_BYTES)`,
        );
      const output = outputOf(res, req.what);
      return { type: 'succeeded', output, input: req.shown, event: { status: res.status } };
    },
  };
}

/** The values of the secrets `names` of the step's workspace; a missing one fails the step, naming it. */
async function secretsOf(names: readonly string[], workspace: string, lookup: SecretLookup | undefined): Promise<Record<string, string>> {
  if (names.length === 0) return {};
  if (!lookup) throw new MissingSecretError(names[0]!, workspace);
  try {
    return Object.fromEntries(await openNamed(names, workspace, lookup));
  } catch (err) {
    // Sealed under a key this process no longer has, or altered: it will not open on a retry either.
    if (err instanceof SealedValueError) throw new NonRetryableError(err.message, undefined, { cause: err });
    throw err;
  }
}
