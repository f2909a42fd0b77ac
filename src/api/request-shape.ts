/**
 * What every request must be before a route reads it: a body, when one is sent, is JSON (415
 * otherwise) holding an object (400 otherwise). Query parameters are each route's (route.ts).
 */
import type { RequestHandler } from 'express';
import { excerpt } from '../errors/excerpt.js';
import { HttpError } from './errors.js';

/** The content types the JSON parser reads (express.json's `type`). */
export const JSON_TYPES = ['application/json', 'application/*+json'];

const hasBody = (headers: Record<string, string | string[] | undefined>): boolean =>
  headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : `a ${typeof v}`;
}

/** Refuse a body that is not JSON, or is JSON but not an object (after express.json, `strict: false`). */
export const jsonObjectBody: RequestHandler = (req, _res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD' || !hasBody(req.headers)) return next();
  if (!req.is(JSON_TYPES)) {
    const type = req.get('content-type');
    throw new HttpError(
      415,
      'unsupported_media_type',
      `the body must be JSON, sent with Content-Type: application/json (${type ? `got ${excerpt(type, 100)}` : 'no Content-Type was sent'})`,
    );
  }
  const body: unknown = req.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_body', `the body must be a JSON object ({...}); got ${describe(body)}`);
  }
  next();
};
