/**
 * The API's routers, and the one place a route is declared. Every route names its access rule
 * (`'public'`, or the scope it needs), then its spec: what it is, the zod schemas of its query
 * and body, and of each answer it gives (`r.post('/', 'runs:write', {summary, body, responses},
 * handler)`). The builder checks the access first (scope.ts), then the query (a parameter the
 * route does not name is a 422 naming it), then the body, and hands the handler the parsed
 * values. The same declarations are what GET /openapi.json describes (openapi.ts), so the
 * description cannot drift from what the routes check. A route cannot be added without this.
 */
import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import { excerpt } from '../errors/excerpt.js';
import { HttpError, parseOr422 } from './errors.js';
import { authorize, type Access } from './scope.js';

export type { Access };

type QuerySchema = z.ZodObject;
type NoQuery = z.ZodObject<Record<string, never>>;

/** One answer of a route: a JSON body's schema, none (`null`: 204, a redirect), or another content type. */
export type ResponseSpec = z.ZodType | null | { schema: z.ZodType | null; contentType: string; description?: string };

export interface RouteSpec<Q extends QuerySchema, B extends z.ZodType | undefined, P> {
  /** One line: what it does. */
  summary: string;
  description?: string;
  /** Its query parameters (none: it takes none). */
  query?: Q;
  /** Its JSON body, parsed before the handler runs (none: the body is not read). */
  body?: B;
  /** When the route picks among shapes by a field (errors naming the right fields): its parser; `body` describes it. */
  parseBody?: (raw: unknown) => P;
  /** Its path parameters' schemas, for the description (checked by the route or the service). */
  params?: Record<string, z.ZodType>;
  /** Its answers by status: success, and the errors only this route gives (409, 502...). */
  responses: Record<number, ResponseSpec>;
}

/** A handler; its path parameters are those its path names (each present when it runs). */
type Handler<Q, P> = (req: Request<Record<string, string>>, res: Response, input: { query: Q; body: P }) => unknown;
type Body<B> = B extends z.ZodType ? z.output<B> : undefined;

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A declared route, as openapi.ts reads it. */
export interface RouteDecl {
  method: Method;
  path: string;
  access: Access;
  spec: RouteSpec<QuerySchema, z.ZodType | undefined, unknown>;
}

type Add = <Q extends QuerySchema = NoQuery, B extends z.ZodType | undefined = undefined, P = Body<B>>(
  path: string,
  access: Access,
  spec: RouteSpec<Q, B, P>,
  handler: Handler<z.output<Q>, P>,
) => void;

export interface ApiRouter {
  /** The express router, to mount (and for `param`). */
  readonly router: Router;
  get: Add;
  post: Add;
  put: Add;
  patch: Add;
  delete: Add;
}

/** The routes each router declared (read by `declaredRoutes`). */
const declared = new WeakMap<Router, RouteDecl[]>();

/** The routes declared on `router`, paths relative to where it is mounted. */
export function declaredRoutes(router: Router): readonly RouteDecl[] {
  return declared.get(router) ?? [];
}

/** The query of `req`, parsed by `schema`; a parameter it does not name is a 422. */
function queryOf(req: Request, schema: QuerySchema | undefined): unknown {
  const given = Object.keys(req.query);
  const taken = schema ? Object.keys(schema.shape) : [];
  const unknown = given.filter((name) => !taken.includes(name));
  if (unknown.length) {
    const where = `${req.method} ${excerpt(req.path === '/' && req.baseUrl ? req.baseUrl : `${req.baseUrl}${req.path}`, 120)}`;
    const takes = taken.length ? `takes ${taken.join(', ')}` : `takes none${req.method === 'GET' ? '' : ' (options go in the JSON body)'}`;
    const issues = unknown
      .slice(0, 20)
      .map((name) => ({ path: `query.${excerpt(name, 100)}`, message: `unknown query parameter "${excerpt(name, 100)}": ${where} ${takes}` }));
    throw new HttpError(422, 'invalid_request', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
  return schema ? parseOr422(schema, req.query, 'query') : {};
}

/** The body of `req` as the spec reads it: by its parser, its schema, or not at all. */
function bodyOf(req: Request, spec: RouteDecl['spec']): unknown {
  const raw: unknown = req.body ?? {};
  if (spec.parseBody) return spec.parseBody(raw);
  return spec.body ? parseOr422(spec.body, raw) : undefined;
}

export function apiRouter(): ApiRouter {
  const router = Router();
  const routes: RouteDecl[] = [];
  declared.set(router, routes);
  const add =
    (method: Method) =>
    (path: string, access: Access, spec: RouteDecl['spec'], handler: Handler<unknown, unknown>): void => {
      routes.push({ method, path, access, spec });
      router[method](path, async (req, res) => {
        await authorize(req, res, access);
        const query = queryOf(req, spec.query);
        return handler(req as Request<Record<string, string>>, res, { query, body: bodyOf(req, spec) });
      });
    };
  return { router, get: add('get'), post: add('post'), put: add('put'), patch: add('patch'), delete: add('delete') } as ApiRouter;
}
