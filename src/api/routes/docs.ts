/**
 * GET /openapi.json, the API's OpenAPI 3.1 description (openapi.ts), and GET /docs, an
 * interactive page over it (Swagger UI). Both are public: the description holds no data, only
 * the routes and their shapes, and a client needs it before it has a key. The page's scripts
 * and styles come from the swagger-ui-dist package, served here (never a CDN), and its own
 * script is a file too, so the content security policy stays the API's own (no inline script).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Router } from 'express';
import { z } from 'zod';
import { apiRouter } from '../route.js';

const ASSETS = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
/** The files of swagger-ui-dist the page loads. */
export const DocsAsset = z.enum(['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']);

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard API</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png"><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="docs"></div><script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>
`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true, tryItOutEnabled: false });\n`;

const file = (contentType: string, description: string) => ({ 200: { schema: null, contentType, description } });

/** `document` makes the description (once, on first request: every route is mounted by then). */
export function docsRouter(document: () => Record<string, unknown>): Router {
  const r = apiRouter();
  let made: string | undefined;
  r.get(
    '/openapi.json',
    'public',
    { summary: "This API's OpenAPI 3.1 description", responses: { 200: { schema: null, contentType: 'application/json', description: 'OpenAPI 3.1' } } },
    (_req, res) => {
      made ??= JSON.stringify(document());
      res.type('json').send(made);
    },
  );
  r.get('/docs', 'public', { summary: 'The interactive API reference (Swagger UI)', responses: file('text/html', 'The page') }, (_req, res) => {
    res.type('html').send(PAGE);
  });
  r.get('/docs/init.js', 'public', { summary: "The docs page's script", responses: file('text/javascript', 'The script') }, (_req, res) => {
    res.type('js').send(INIT);
  });
  r.get(
    '/docs/assets/:file',
    'public',
    {
      summary: "The docs page's scripts, styles and icon (swagger-ui-dist)",
      params: { file: DocsAsset },
      responses: file('application/octet-stream', 'The file'),
    },
    (req, res) => {
      const name = DocsAsset.safeParse(req.params.file);
      if (!name.success) return res.status(404).json({ error: { code: 'not_found', message: `no docs asset "${req.params.file}"` } });
      res.sendFile(join(ASSETS, name.data), { maxAge: '1d' });
    },
  );
  return r.router;
}
