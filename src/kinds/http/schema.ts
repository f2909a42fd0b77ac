/**
 * `kind: http`: one HTTP request to a service (a webhook, an API, the user's own code behind an
 * endpoint), run by the engine on its control queue: no agent, no provider. Templates are
 * allowed in `url`, `headers` and `body`; `{{ secrets.NAME }}` (a secret of the run's
 * workspace) in `url` and `headers` only. The JSON response body is the step's output, or
 * `{status, body}` when the response is not JSON.
 */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS } from '../../model/step.js';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const HttpMethod = z.enum(HTTP_METHODS);
export type HttpMethod = z.infer<typeof HttpMethod>;

/** Header names: an HTTP token (RFC 9110). */
const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, "must be a header name (letters, digits and !#$%&'*+.^_`|~-)");

/** Most bytes of a response body an http step reads: 10 MB (the step's output is bounded by SWITCHYARD_MAX_OUTPUT_BYTES besides). */
export const HTTP_STEP_MAX_BYTES = 10_000_000;

const httpFields = {
  /** `http://` or `https://`; templates allowed (rendered before the call), and `{{ secrets.NAME }}`. */
  url: z.string().min(1).max(8192),
  /** @default GET */
  method: HttpMethod.default('GET'),
  /** Request headers; values may hold templates and `{{ secrets.NAME }}`. */
  headers: z.record(HeaderName, z.string().max(8192)).default({}),
  /**
   * The request body: a JSON value (a string too), sent as JSON (`content-type:
   * application/json` unless a header says otherwise). Templates allowed in its strings. Not
   * with GET.
   */
  body: z.unknown().optional(),
  /** Most bytes of the response body read; a longer response fails the step. @default SWITCHYARD_MAX_OUTPUT_BYTES */
  maxBytes: z.number().int().positive().max(HTTP_STEP_MAX_BYTES).optional(),
};

export const HttpStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('http'),
    ...httpFields,
  })
  .strict();

export const CompiledHttpStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('http'),
  url: z.string(),
  method: HttpMethod,
  headers: z.record(z.string(), z.string()),
  body: z.unknown().optional(),
  maxBytes: z.number().int().positive().optional(),
});
