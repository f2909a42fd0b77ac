/**
 * Checking answers against the server's own GET /openapi.json: the status must be one the
 * operation documents, and the body must match the schema documented for it (ajv, JSON Schema
 * 2020-12, as OpenAPI 3.1 uses). And the routes an express app answers, walked from its router.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Express } from 'express';
import { expect } from 'vitest';
import { parseSse } from './sse.js';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
export interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

export class SpecChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  /** Every `METHOD /path status` checked, to report what the calls covered. */
  readonly seen = new Set<string>();

  constructor(readonly spec: Spec) {
    this.ajv.addSchema({ $id: 'spec', components: spec.components });
  }

  /** The spec's path template `path` is an instance of (a literal segment wins over a parameter). */
  templateOf(path: string): string {
    const fits = Object.keys(this.spec.paths).filter((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
    fits.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
    return fits[0] ?? path;
  }

  /** The schema `method path` documents for `status` and `contentType` (fails when there is none). */
  private schemaOf(method: string, path: string, status: number, contentType: string) {
    const template = this.templateOf(path);
    const op = this.spec.paths[template]?.[method.toLowerCase()];
    expect(op, `${method} ${path} is not in the spec`).toBeDefined();
    const answer = op!.responses[String(status)];
    expect(answer, `${method} ${path} answered ${status}, which its spec does not document (it has ${Object.keys(op!.responses).join(', ')})`).toBeDefined();
    this.seen.add(`${method.toUpperCase()} ${template} ${status}`);
    if (!answer!.content) return undefined;
    const media = answer!.content[contentType];
    expect(media, `${method} ${path} ${status} answered ${contentType}, documented: ${Object.keys(answer!.content).join(', ')}`).toBeDefined();
    const ref = media!.schema?.$ref;
    if (!ref) return undefined;
    const validate = this.ajv.getSchema(`spec${ref}`);
    expect(validate, `no schema at ${ref}`).toBeDefined();
    return validate;
  }

  /** `body` (JSON, or SSE text) matches what `method path` documents for `status`. */
  check(method: string, path: string, res: { status: number; body: unknown; headers: Headers }): void {
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const validate = this.schemaOf(method, path, res.status, contentType || 'application/json');
    if (res.status === 204) return;
    if (!validate) return;
    const bodies = contentType === 'text/event-stream' ? parseSse(res.body as string).map((e) => e.data) : [res.body];
    for (const body of bodies) {
      const ok = validate(body);
      expect(ok, `${method} ${path} ${res.status}: ${JSON.stringify(validate.errors?.slice(0, 5))}\n${JSON.stringify(body).slice(0, 600)}`).toBe(true);
    }
  }
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: string;
  slash?: boolean;
}

/** Every `METHOD path` an express app routes (express 5: `app.router`), sub-routers' paths joined to where they are mounted. */
export function expressRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods))
          if (on && m !== '_all') out.push(`${m.toUpperCase()} ${prefix}${layer.route.path === '/' && prefix ? '' : layer.route.path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, layer.slash || typeof layer.rawPath !== 'string' ? prefix : `${prefix}${layer.rawPath}`);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...new Set(out)];
}
