/**
 * The API's routers. Every route declares its access rule first (`'public'`, or the scope it
 * needs: `r.post('/', 'runs:write', handler)`), checked before anything else (scope.ts), and
 * has its query parameters checked the one way: a route names the zod schema of its query
 * (none: it takes no parameters), a parameter it does not take is a 422 naming it and what the
 * route takes, and the values are parsed by the schema before the handler sees them. A route
 * cannot be added without going through this.
 */
import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import { excerpt } from '../errors/excerpt.js';
import { HttpError, parseOr422 } from './errors.js';
import { authorize, type Access } from './scope.js';

export type { Access };

type QuerySchema = z.ZodObject;
/** A handler; its path parameters are those its path names (each present when it runs). */
type Handler<Q> = (req: Request<Record<string, string>>, res: Response, query: Q) => unknown;
type NoQuery = Record<string, never>;

export interface ApiRouter {
  /** The express router, to mount (and for `param`). */
  readonly router: Router;
  get(path: string, access: Access, handler: Handler<NoQuery>): void;
  get<S extends QuerySchema>(path: string, access: Access, query: S, handler: Handler<z.infer<S>>): void;
  post(path: string, access: Access, handler: Handler<NoQuery>): void;
  put(path: string, access: Access, handler: Handler<NoQuery>): void;
  patch(path: string, access: Access, handler: Handler<NoQuery>): void;
  delete(path: string, access: Access, handler: Handler<NoQuery>): void;
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

export function apiRouter(): ApiRouter {
  const router = Router();
  const add =
    (method: 'get' | 'post' | 'put' | 'patch' | 'delete') =>
    (path: string, access: Access, ...args: [Handler<never>] | [QuerySchema, Handler<never>]): void => {
      const [schema, handler] = args.length === 2 ? args : [undefined, args[0]];
      router[method](path, async (req, res) => {
        await authorize(req, res, access);
        return (handler as Handler<unknown>)(req as Request<Record<string, string>>, res, queryOf(req, schema));
      });
    };
  return { router, get: add('get'), post: add('post'), put: add('put'), patch: add('patch'), delete: add('delete') } as ApiRouter;
}
