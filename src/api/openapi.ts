/**
 * The OpenAPI 3.1 description of the API, made from the routes as route.ts declared them (their
 * access, the zod schemas of their query, body and answers) and nothing else: GET /openapi.json.
 * Request schemas are described as a client sends them (zod's input), answers as the server
 * sends them (its output). Every route that needs a credential has the bearer scheme with the
 * scope it needs, and the error answers every such route may give.
 */
import { z } from 'zod';
import type { Method, ResponseSpec, RouteDecl } from './route.js';
import * as adminResponses from './admin-responses.js';
import * as adminSchemas from './admin-schemas.js';
import * as responses from './responses.js';
import * as schemas from './schemas.js';
import { CompiledWorkflow, WorkflowDefinition } from '../kinds/definition.js';
import { ScheduleBody } from '../schedules/schedules-service.js';

/** A declared route with the path it answers at. */
export type MountedRoute = RouteDecl;

type Json = Record<string, unknown>;

/** The exported names of the schemas modules: components are named after them. */
function knownNames(): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>();
  for (const mod of [responses, adminResponses, schemas, adminSchemas, { CompiledWorkflow, WorkflowDefinition, ScheduleBody }] as Record<string, unknown>[])
    for (const [name, value] of Object.entries(mod)) if (value instanceof z.ZodType && !names.has(value)) names.set(value, name);
  return names;
}

/** A registry of named schemas, turned into components in one pass (shared parts by reference). */
class Components {
  private readonly registry = z.registry<{ id: string }>();
  private readonly ids = new Map<z.ZodType, string>();
  constructor(
    private readonly io: 'input' | 'output',
    private readonly known: Map<z.ZodType, string>,
    private readonly taken: Set<string>,
  ) {}

  ref(schema: z.ZodType, fallback: string): Json {
    let id = this.ids.get(schema);
    if (!id) {
      const base = this.known.get(schema) ?? fallback;
      id = this.taken.has(base) ? `${base}${this.io === 'input' ? 'Input' : 'Output'}` : base;
      this.taken.add(id);
      this.ids.set(schema, id);
      this.registry.add(schema, { id });
    }
    return { $ref: `#/components/schemas/${id}` };
  }

  /** The components; the parts zod shares between them (a recursive block) become components too, named `<Input|Output>Shared_<n>`. */
  schemas(): Record<string, Json> {
    const out = z.toJSONSchema(this.registry, { io: this.io, unrepresentable: 'any', target: 'draft-2020-12', uri: (id) => `#/components/schemas/${id}` });
    const { __shared: shared, ...named } = out.schemas as Record<string, Json>;
    const prefix = `${this.io === 'input' ? 'Input' : 'Output'}Shared_`;
    const all = { ...named, ...Object.fromEntries(Object.entries((shared?.$defs ?? {}) as Record<string, Json>).map(([id, s]) => [`${prefix}${id}`, s])) };
    const text = JSON.stringify(all).replaceAll('#/components/schemas/__shared#/$defs/', `#/components/schemas/${prefix}`);
    return Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, Json>).map(([id, s]) => [id, bare(s)]));
  }
}

/** A schema without the keywords of a standalone document. */
function bare(schema: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

const inline = (schema: z.ZodType): Json => bare(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }));
const optional = (schema: z.ZodType): boolean => schema.safeParse(undefined).success;

/** `/v1/runs/:id` as OpenAPI writes it: `/v1/runs/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const operationId = (method: Method, path: string): string =>
  method +
  path
    .split(/[/_-]/)
    .filter(Boolean)
    .map((part) => (part.startsWith(':') ? `By${part.slice(1)}` : part))
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');

const ERRORS: Record<number, string> = {
  400: 'A malformed request (JSON that does not parse, a body that is not an object, a bad event id)',
  401: 'No credential, or one that is refused (with WWW-Authenticate)',
  403: 'The credential lacks the scope the route needs',
  404: 'No such resource in the workspace',
  409: 'The resource is not in a state that allows it',
  413: 'The body is larger than the limit',
  415: 'The body is not JSON',
  422: 'A field or query parameter is invalid: `issues` names each',
  429: "The workspace's request rate is spent (Retry-After says when to try again)",
  502: 'The provider did not answer',
  503: 'Redis (or a bound of this process) is unavailable now: try again',
};

/** The error statuses a route may answer besides those it declares. */
function errorStatuses({ method, path, access, spec }: RouteDecl): number[] {
  const codes = new Set<number>();
  if (access !== 'public') [401, 403, 429, 503].forEach((c) => codes.add(c));
  if (method === 'post' || method === 'put' || method === 'patch') [400, 413, 415].forEach((c) => codes.add(c));
  if (spec.query || spec.body || spec.params) codes.add(422);
  if (path.includes(':')) codes.add(404);
  return [...codes];
}

function response(spec: ResponseSpec, name: string, out: Components, status: number): Json {
  const description = (spec && 'contentType' in spec ? spec.description : undefined) ?? ERRORS[status] ?? (status < 300 ? 'Success' : 'See the status');
  if (spec === null) return { description: status === 204 ? 'No content' : description };
  if ('contentType' in spec) return { description, content: { [spec.contentType]: spec.schema ? { schema: out.ref(spec.schema, name) } : {} } };
  return { description, content: { 'application/json': { schema: out.ref(spec, name) } } };
}

function operation(route: RouteDecl, ins: Components, outs: Components): Json {
  const { method, path, access, spec } = route;
  const id = operationId(method, path);
  const params = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: spec.params?.[name!] ? inline(spec.params[name!]!) : { type: 'string' },
  }));
  const query = Object.entries((spec.query?.shape ?? {}) as Record<string, z.ZodType>).map(([name, schema]) => ({
    name,
    in: 'query',
    required: !optional(schema),
    schema: inline(schema),
    ...(schema.description ? { description: schema.description } : {}),
  }));
  const answers: Record<string, Json> = {};
  for (const [status, answer] of Object.entries(spec.responses)) answers[status] = response(answer, `${id}${status}`, outs, Number(status));
  for (const status of errorStatuses(route)) answers[status] ??= response(responses.ErrorBody, 'ErrorBody', outs, status);
  const segment =
    /^\/v1\/([^/]+)/.exec(path)?.[1] ?? (path.startsWith('/admin') || path === '/metrics' ? 'operations' : path.startsWith('/runs') ? 'pages' : 'service');
  return {
    operationId: id,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [segment],
    security: access === 'public' ? [] : [{ bearer: [access] }],
    ...(access === 'public' ? {} : { 'x-required-scope': access }),
    ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
    ...(spec.body
      ? { requestBody: { required: !spec.body.safeParse({}).success, content: { 'application/json': { schema: ins.ref(spec.body, `${id}Body`) } } } }
      : {}),
    responses: answers,
  };
}

const TAG_ORDER = [
  'runs',
  'chat',
  'webhooks',
  'sessions',
  'workflows',
  'agents',
  'schedules',
  'stats',
  'insights',
  'me',
  'keys',
  'audit',
  'limits',
  'workspaces',
  'pages',
  'service',
  'operations',
];

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(routes: readonly MountedRoute[]): Json {
  const known = knownNames();
  const taken = new Set<string>();
  const outs = new Components('output', known, taken);
  const ins = new Components('input', known, taken);
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route, ins, outs);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchyard',
      version: '1',
      description:
        'Queue-backed multi-agent job runner. Every route but the public ones takes `Authorization: Bearer <API key or JWT>`; each names the scope it needs (`admin` holds every scope). In the open development mode (no key made yet, not production) no credential is needed.',
    },
    // In the order a reader looks for them (Swagger UI lists tags in this order).
    tags: TAG_ORDER.map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...outs.schemas(), ...ins.schemas() },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key (`sy_<id>_<secret>`) or a JWT' } },
    },
  };
}
