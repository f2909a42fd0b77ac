/**
 * The workspace's part of admission: a call of a step whose workspace has a `maxRunningSteps`
 * cap (src/model/workspace-limits.ts) takes a lease among the workspace's steps calling a
 * provider, and gives it back when the call ends. At the cap the call waits (its step
 * `retrying`, no attempt used, no worker slot held) and asks again a moment later. A lease is the
 * step's own (`<runId>.<stepId>`: a step makes one call at a time), so a recovered attempt takes
 * its lost one's place at once, and it expires with the call's timeout (plus a margin) if its
 * worker is lost. A cancelled run's calls are aborted, and so settle and give theirs back.
 *
 * The caps and the leases are kept by the store (workspace-caps.ts): this part reaches them
 * through `CapsLedger`, which the store's WorkspaceCapsStore implements.
 */
import { toError } from '../../errors/index.js';
import type { Logger } from '../../logger.js';
import type { WorkspaceCaps } from '../../model/workspace-limits.js';
import { scopeOf, type Cell, type Scope } from '../../store/scope.js';
import { LEASE_MARGIN_MS, type Admission, type CallAsk, type CallEnd, type Verdict } from './admission.js';
import { jittered } from './jitter.js';

/** How soon a call held by its workspace's cap asks again, ms (jittered). */
const CAP_POLL_MS = 500;

/** The limit a wait for a workspace's cap names (CapacityWaitError.limit). */
export const WORKSPACE_STEPS_LIMIT = 'workspace maxRunningSteps';

/** Where the caps and their leases are kept (the store). */
export interface CapsLedger {
  effective(scope: Scope): Promise<WorkspaceCaps>;
  takeStep(scope: Scope, cap: number, member: string, leaseMs: number): Promise<{ taken: boolean; running: number }>;
  releaseStep(scope: Scope, member: string): Promise<void>;
}

/** A lease held for a call (none: its workspace has no cap on running steps). */
export type CapTicket = { scope: Scope; member: string } | undefined;

export interface WorkspaceGateOptions {
  caps: CapsLedger;
  cell: Cell;
  /** How long a lease lives if its call never settles, when the request does not say (its agent's timeout); plus a margin. */
  leaseMs: number;
  logger: Logger;
}

export class WorkspaceGate implements Admission<CapTicket> {
  constructor(private readonly opts: WorkspaceGateOptions) {}

  async acquire({ req }: CallAsk): Promise<Verdict<CapTicket>> {
    const holder = req.holder;
    if (!holder) return { kind: 'go', ticket: undefined };
    const scope = scopeOf(this.opts.cell, holder.workspaceId);
    const cap = (await this.opts.caps.effective(scope)).maxRunningSteps;
    if (cap === null) return { kind: 'go', ticket: undefined };
    const member = `${holder.runId}.${holder.stepId}`;
    const { taken, running } = await this.opts.caps.takeStep(scope, cap, member, (req.timeoutMs ?? this.opts.leaseMs) + LEASE_MARGIN_MS);
    if (!taken) {
      const why = `maxRunningSteps ${cap} of workspace ${holder.workspaceId} (${running} running)`;
      return { kind: 'wait', ms: jittered(CAP_POLL_MS), why, limit: WORKSPACE_STEPS_LIMIT };
    }
    return { kind: 'go', ticket: { scope, member } };
  }

  async settle(ticket: CapTicket, end: CallEnd): Promise<CallEnd> {
    if (!ticket) return end;
    // Never lose an answer to the cap: a lease not given back expires by itself.
    await this.opts.caps
      .releaseStep(ticket.scope, ticket.member)
      .catch((err: unknown) => this.opts.logger.warn({ err: toError(err).message }, "could not give back a step's lease under its workspace's cap"));
    return end;
  }
}
