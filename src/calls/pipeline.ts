/**
 * The provider-call pipeline, assembled here and nowhere else:
 *
 *   vendor → admission (the run's budget, its workspace's cap, then the shared limits) → fallback
 *     → prompt cache (marks an Anthropic agent's prefix) → response cache → meter (+ trace)
 *
 * `CallPipeline.forAgent` builds an agent's provider once per worker process: each model it may
 * call (its own, then its `fallback` models) is a vendor adapter (vendors/) behind its own
 * admission (admission/), and the fallback rules choose among them (fallback-provider.ts); an
 * Anthropic agent's requests mark their prefix for the prompt cache (prompt-cache.ts), and an
 * agent with `cache` is answered from the response cache first (response-cache.ts: a hit reaches
 * neither admission nor the provider).
 * `stepCalls` is what one step attempt calls through: each call names the attempt (what it
 * holds in the limiter and against the run's budget is released with it), is traced for the
 * step's debug, and is metered (its usage recorded with the step's next write).
 */
import type { Cell } from '../store/scope.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ResolvedAgent } from '../model/agent.js';
import { admissionOf, AdmittedProvider, type Admission } from './admission/admission.js';
import { BudgetGate, type BudgetGateOptions, type BudgetLedger } from './admission/budget-gate.js';
import { WorkspaceGate, type CapsLedger } from './admission/workspace-gate.js';
import type { LimitPlan, Limiter } from './admission/limiter.js';
import { LimitsGate } from './admission/limits-gate.js';
import { FallbackProvider } from './fallback-provider.js';
import { PromptCacheProvider } from './prompt-cache.js';
import { ResponseCacheProvider, type AnswerStore } from './response-cache.js';
import { scopeOf } from '../store/scope.js';
import type { PriceTable } from './pricing.js';
import type { CallHolder, Provider } from './provider.js';
import { MeteredProvider, type UsageMeter } from './usage-meter.js';
import { createProvider } from './vendors/index.js';

export interface CallPipelineOptions {
  /** The shared limiter (RedisLimiter), and which of its limits apply to whom (the agents file's `providers`). */
  limiter: Limiter;
  plan: LimitPlan;
  /** Where run budgets' reservations are kept (the store's budgets), and the cell of those runs. */
  ledger: BudgetLedger;
  cell: Cell;
  /** The workspaces' caps on running steps (the store's WorkspaceCapsStore); none: no cap is held. */
  caps?: CapsLedger | undefined;
  /** What tokens cost: a reservation's cost is its estimate at the model's price. */
  prices?: PriceTable | undefined;
  logger: Logger;
  /** Told of each limiter scope whose circuit a call opened (metrics). */
  onCircuitOpened?: ((scope: string) => void) | undefined;
  /** The longest pause after a 429 or an overload (SWITCHYARD_MAX_PAUSE_MS). @default 5 minutes */
  maxPauseMs?: number | undefined;
  /** Told of each spend envelope's 80% warning (once per envelope and day), for the audit log. */
  onEnvelopeWarning?: BudgetGateOptions['onEnvelopeWarning'];
  /** Told of a run budget's own 80% warning (once per run), for its webhooks. */
  onRunWarning?: BudgetGateOptions['onRunWarning'];
  /** Where the response cache keeps answers (the store's ResponseCacheStore); none: agents' `cache` is not used. */
  answers?: AnswerStore | undefined;
  /** Told of each response cache lookup of an agent (by its id: a workspace's own as `<workspace>/<name>`), hit or not (metrics). */
  onCacheLookup?: ((agent: string, hit: boolean) => void) | undefined;
}

/** The model an agent may call, as admission sees it (the agent's own, or a fallback's). */
type Target = Pick<ResolvedAgent, 'provider' | 'apiKey' | 'fallbackReason'>;

export class CallPipeline {
  /** By agent (a workspace's own: `<workspace>/<name>`), with the version it was built for. */
  private readonly built = new Map<string, { version: number; provider: Provider }>();

  constructor(private readonly opts: CallPipelineOptions) {}

  /**
   * `agent`'s provider: built on first use, then kept (one HTTP client per model); a workspace's
   * own agent is built again when its version changes (its key, model or limits may have).
   */
  forAgent(agent: ResolvedAgent): Provider {
    const id = agentId(agent);
    const version = agent.owner?.version ?? 0;
    let entry = this.built.get(id);
    if (entry?.version !== version) this.built.set(id, (entry = { version, provider: this.build(agent) }));
    return entry.provider;
  }

  private build(agent: ResolvedAgent): Provider {
    const logger = this.opts.logger.child({ agent: agent.name });
    let provider = this.chosen(agent, logger);
    if (agent.provider === 'anthropic' && agent.promptCache !== 'off') provider = new PromptCacheProvider(provider, agent.promptCache);
    const { answers, cell, prices, onCacheLookup } = this.opts;
    if (agent.cache && answers) {
      const id = agentId(agent);
      provider = new ResponseCacheProvider(provider, {
        spec: agent.cache,
        store: answers,
        scopeOf: (req) => (req.holder ? scopeOf(cell, req.holder.workspaceId) : undefined),
        prices,
        logger,
        onLookup: onCacheLookup ? (hit) => onCacheLookup(id, hit) : undefined,
      });
    }
    return provider;
  }

  /** The agent's model behind its admission, or its fallback rules over it and its fallbacks'. */
  private chosen(agent: ResolvedAgent, logger: Logger): Provider {
    // A primary with fallbacks books no turn beyond fallbackAfterMs: that call goes to a fallback.
    const primary = this.admitted(agent, agent, createProvider(agent), logger, agent.fallbacks?.length ? agent.fallbackAfterMs : undefined);
    if (!agent.fallbacks?.length) return primary;
    const fallbacks = agent.fallbacks.map((f) => ({
      model: f.model,
      provider: this.admitted(agent, f, createProvider({ ...agent, ...f, apiKey: f.apiKey, baseURL: f.baseURL }), logger),
    }));
    return new FallbackProvider(primary, fallbacks, { fallbackAfterMs: agent.fallbackAfterMs, logger });
  }

  /** `vendor` behind admission: the run's budget always (a call of a run without one passes at once), the limits where one can apply. */
  private admitted(agent: ResolvedAgent, target: Target, vendor: Provider, logger: Logger, bookWithinMs?: number): Provider {
    const { limiter, plan, ledger, cell, prices, onCircuitOpened, maxPauseMs, onEnvelopeWarning, onRunWarning } = this.opts;
    const parts: Admission<unknown>[] = [new BudgetGate({ ledger, cell, prices, leaseMs: agent.timeoutMs, logger, onEnvelopeWarning, onRunWarning })];
    if (this.opts.caps) parts.push(new WorkspaceGate({ caps: this.opts.caps, cell, leaseMs: agent.timeoutMs, logger }));
    if (plan.applies(target.provider, agent.rateLimit, target.fallbackReason !== undefined)) {
      parts.push(
        new LimitsGate({
          limiter,
          target: { provider: target.provider, apiKey: target.apiKey, agent: { name: agentId(agent), rateLimit: agent.rateLimit } },
          leaseMs: agent.timeoutMs,
          logger,
          onCircuitOpened,
          maxPauseMs,
          bookWithinMs,
        }),
      );
    }
    return new AdmittedProvider(vendor, admissionOf(parts));
  }
}

/** An agent across workspaces: a shared one by its name, a workspace's own as `<workspace>/<name>` (its own rate limit scope too). */
function agentId(agent: ResolvedAgent): string {
  return agent.owner ? `${agent.owner.workspace}/${agent.name}` : agent.name;
}

/** What one step attempt's calls carry and where they are counted. */
export interface StepCalls {
  /** The attempt that makes them (and whether its run has a budget). */
  holder: CallHolder;
  meter: UsageMeter;
  /** The step's debug trace around the calls (src/engine/step-trace.ts). */
  trace?: { around(inner: Provider): Provider } | undefined;
  metrics?: { metrics: Metrics; agent: string | undefined } | undefined;
}

/** `provider` (an agent's, from `forAgent`) as one step attempt calls it. */
export function stepCalls(provider: Provider, step: StepCalls): Provider {
  return new MeteredProvider(step.trace ? step.trace.around(provider) : provider, step.meter, step.metrics, step.holder);
}
