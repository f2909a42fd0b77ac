/**
 * The access log: one line for every answer of 400 or more (method, path without its query,
 * status, error code, duration, the caller's workspace and credential id when known), so an
 * operator sees every refusal and failure next to what caused it. Successful answers are not
 * logged (metrics count them). 4xx lines are `info`, 5xx `warn`; an unexpected 5xx is also
 * logged with its stack by the error handler (errors.ts).
 */
import type { RequestHandler, Response } from 'express';
import type { Logger } from '../logger.js';
import type { Principal } from '../auth/principal.js';

/** The error code the error handler answered with, for the access line. */
export function noteErrorCode(res: Response, code: string): void {
  (res.locals as { errorCode?: string }).errorCode = code;
}

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      if (res.statusCode < 400) return;
      const locals = res.locals as { errorCode?: string; principal?: Principal };
      const line = {
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.statusCode,
        ...(locals.errorCode ? { code: locals.errorCode } : {}),
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        ...(locals.principal ? { workspace: locals.principal.workspace, credential: `${locals.principal.kind}:${locals.principal.id}` } : {}),
      };
      if (res.statusCode >= 500) logger.warn(line, 'request answered');
      else logger.info(line, 'request answered');
    });
    next();
  };
}
