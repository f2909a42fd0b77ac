/**
 * The run pages: `/runs` (the workspace's runs, filtered, newest first) and `/runs/:id` (one
 * run drawn: its DAG, a waterfall of its steps, the selected step, live over SSE). Each page is
 * a small HTML shell holding no data; its scripts (plain JS modules in ../pages/, served from
 * `/runs/assets/`) read the API with the browser's credential (the session cookie of
 * /admin/login, or none in the open development mode), so helmet's strict content security
 * policy holds as it is: no inline script, everything from this origin.
 */
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';
import { z } from 'zod';
import { RUN_EVENT_TYPES } from '../../model/run.js';
import { RunId } from '../schemas.js';
import { apiRouter } from '../route.js';

/** Where the pages' scripts and styles are (copied beside the build's output by `npm run build`). */
export const PAGES_DIR = fileURLToPath(new URL('../pages/', import.meta.url));

/** The assets the pages load; nothing else under the folder is served. */
const ASSETS = /^\/(?:[a-z-]+\.(?:js|css))$/;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An HTML shell: the title, the module that fills it (none: `message` is the page), and when it
 * shows one run `data-run` and the event types its stream names (`data-event-types`).
 */
function shell(title: string, script: string | undefined, runId?: string, message = 'Loading…'): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Switchyard</title>
<link rel="stylesheet" href="/runs/assets/base.css">${runId ? '\n<link rel="stylesheet" href="/runs/assets/run.css">' : ''}
${script ? `<script type="module" src="/runs/assets/${script}"></script>` : ''}</head>
<body${runId ? ` data-run="${escapeHtml(runId)}" data-event-types="${RUN_EVENT_TYPES.join(' ')}"` : ''}>
<header class="top"><a href="/runs" class="brand">Switchyard</a><nav><a href="/runs">Runs</a> <a href="/admin/queues">Queues</a></nav><span id="who"></span></header>
<main id="main"><p class="muted">${escapeHtml(message)}</p></main>
</body></html>`;
}

/** What the pages keep in their address (read by their scripts; the API checks the filters' values). */
const text = z.string().max(300).optional();
const ListPageQuery = z.object({ status: text, workflow: text, agent: text, since: text }).strict();
const RunPageQuery = z.object({ step: text }).strict();

export function pagesRouter(): Router {
  const r = apiRouter();
  r.router.use(
    '/runs/assets',
    (req, _res, next) => (ASSETS.test(req.path) ? next() : next('router')),
    express.static(PAGES_DIR, { index: false, maxAge: '5m' }),
  );
  // The shells are public: they hold no data, and the API they read asks for the credential.
  const html = (description: string) => ({ schema: null, contentType: 'text/html', description });
  r.get(
    '/runs',
    'public',
    { summary: "The run list page (the workspace's runs, filtered, live)", query: ListPageQuery, responses: { 200: html('The page') } },
    (_req, res) => {
      res.type('html').send(shell('Runs', 'list.js'));
    },
  );
  r.get(
    '/runs/:id',
    'public',
    {
      summary: "A run's page: its DAG, a waterfall of its steps, the selected step, live",
      params: { id: RunId },
      query: RunPageQuery,
      responses: { 200: html('The page'), 404: html('Not a run id') },
    },
    (req, res) => {
      const id = req.params.id!;
      if (!RunId.safeParse(id).success) {
        const why = `"${id.slice(0, 100)}" is not a run id (run ids look like run_0mx55q17idf6fdb956c48)`;
        res
          .status(404)
          .type('html')
          .send(shell('Not a run id', undefined, undefined, why));
        return;
      }
      res.type('html').send(shell(id, 'run.js', id));
    },
  );
  return r.router;
}
