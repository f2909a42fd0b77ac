/**
 * What every route that starts a run (POST /v1/runs, POST /v1/chat/multi) does with the fields
 * their bodies share (`idempotencyKey`, `priority`, `budget`, `webhook`: schemas.ts `common`),
 * and how it answers: once, here.
 */
import type { Response } from 'express';
import type { RunWebhook } from '../model/webhook.js';
import type { Scope } from '../store/scope.js';
import type { SubmitOptions, SubmitResult } from '../submit/submissions.js';
import type { Webhooks } from '../webhooks/webhooks.js';
import { HttpError } from './errors.js';
import { sendJson } from './json-body.js';
import { requestKeyId } from './scope.js';
import { waitForRun, type RunEndWaiter } from './wait.js';

/** The fields every submission body may carry. */
export interface CommonSubmitFields {
  idempotencyKey?: string | undefined;
  priority?: number | undefined;
  budget?: SubmitOptions['budget'];
  webhook?: RunWebhook | undefined;
}

/**
 * The submission's options from the body's common fields and the request's API key. The
 * webhook (its secret) goes to the webhooks only, stored before the run exists, never into the
 * options themselves.
 */
export function submitOptionsOf(res: Response, scope: Scope, body: CommonSubmitFields, webhooks: Pick<Webhooks, 'sealRun'> | undefined): SubmitOptions {
  const { idempotencyKey, priority, budget, webhook } = body;
  return {
    keyId: requestKeyId(res),
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(priority ? { priority } : {}),
    ...(budget ? { budget } : {}),
    ...(webhook ? { beforeCreate: runWebhook(webhooks, scope, webhook) } : {}),
  };
}

function runWebhook(webhooks: Pick<Webhooks, 'sealRun'> | undefined, scope: Scope, spec: RunWebhook): (runId: string) => Promise<void> {
  if (!webhooks) throw new HttpError(422, 'invalid_request', 'this server takes no webhooks', [{ path: 'webhook', message: 'this server takes no webhooks' }]);
  return webhooks.sealRun(scope, spec);
}

/**
 * The answer of a route that started a run (POST /v1/runs, POST /v1/chat/multi): with `?wait`,
 * 200 with the run once it finished in time; else 202 with the new run (`extra` beside its id
 * and status), or 200 with `idempotentReplay` when an idempotency key named a run already made.
 */
export async function answerSubmitted(
  waiter: RunEndWaiter,
  res: Response,
  submitted: { scope: Scope; result: SubmitResult; seconds: number | undefined; shutdownSignal?: AbortSignal | undefined },
  extra: Record<string, unknown> = {},
): Promise<void> {
  const { result } = submitted;
  res.location(`/v1/runs/${result.id}`);
  const finished = await waitForRun(waiter, res, { ...submitted, runId: result.id });
  if (finished) return sendJson(res, finished);
  res.status(result.created ? 202 : 200).json({ id: result.id, status: result.status, ...extra, ...(result.created ? {} : { idempotentReplay: true }) });
}
