/**
 * What the routes call to audit an action: the actor (the request's principal) and where it
 * came from (the client's address) are filled in here, so a route names only the action, its
 * target and workspace. The agents router gets the same `Auditor`.
 */
import type { Request, Response } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../logger.js';
import type { AuditAction } from '../model/audit.js';
import { requestPrincipal, type OnRefused } from './scope.js';

export interface AuditedAction {
  action: AuditAction;
  /** Default: the request's workspace. */
  workspace?: string;
  target?: string;
  details?: Record<string, unknown>;
}

/** Record an action done by the request's principal (after it is done). Never fails the request: a lost entry is logged. */
export type Auditor = (req: Request, res: Response, what: AuditedAction) => Promise<void>;

export function auditorOf(log: AuditLog, logger: Logger): Auditor {
  return async (req, res, { action, workspace, target, details }) => {
    const principal = requestPrincipal(res);
    try {
      await log.record({
        action,
        workspace: workspace ?? principal.workspace,
        actor: { kind: principal.kind, id: principal.id },
        ...(req.ip ? { ip: req.ip } : {}),
        ...(target ? { target } : {}),
        ...(details ? { details } : {}),
      });
    } catch (err) {
      logger.error({ err: (err as Error).message, action, target }, 'audit entry not recorded');
    }
  };
}

/** Most refused credentials recorded one by one per second and process; the others are counted into the next entry. */
export const REFUSALS_PER_SECOND = 20;

/**
 * The audit of refused credentials: the key id presented (never the key), the path, the status.
 * A flood of refusals is not a flood of entries: past REFUSALS_PER_SECOND in a second, they are
 * counted, and the next entry recorded says how many were left out (`details.unrecorded`).
 */
export function refusalsAuditedIn(log: AuditLog, logger: Logger, perSecond = REFUSALS_PER_SECOND): OnRefused {
  let second = 0;
  let recorded = 0;
  let unrecorded = 0;
  return (req, reason, status, principal) => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) [second, recorded] = [now, 0];
    if (++recorded > perSecond) {
      unrecorded++;
      return;
    }
    const skipped = unrecorded;
    unrecorded = 0;
    const keyId = /^Bearer\s+sy_([a-z0-9]{12})_/i.exec(req.get('authorization') ?? '')?.[1];
    const actor = principal ? { kind: principal.kind, id: principal.id } : keyId ? { kind: 'key', id: keyId } : { kind: 'anonymous', id: 'anonymous' };
    log
      .record({
        action: 'credential.refused',
        workspace: principal?.workspace ?? 'default',
        actor,
        ...(req.ip ? { ip: req.ip } : {}),
        target: `${req.method} ${req.originalUrl.split('?')[0]!.slice(0, 200)}`,
        details: { status, reason, ...(skipped ? { unrecorded: skipped } : {}) },
      })
      .catch((err: Error) => logger.error({ err: err.message }, 'audit entry of a refused credential not recorded'));
  };
}
