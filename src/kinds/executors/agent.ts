/**
 * `kind: agent`: one call to the step's agent (or, for an agent with delegates, an
 * orchestrator's conversation: orchestrator.ts). Renders the input's templates, builds the
 * conversation, calls the provider under the step's signal (streaming when the agent says so,
 * with progress reports) and returns the answer; the machine records it before the job
 * completes, so a delivery after that point returns it without a second call.
 */
import { evaluateWhen } from '../../lang/expression.js';
import type { AgentRegistry } from '../../agents/registry.js';
import { NonRetryableError, toError } from '../../errors/index.js';
import { buildMessages } from '../../calls/prompt.js';
import type { ChatMessage, CompletionRequest, Provider } from '../../calls/provider.js';
import type { ResolvedAgent } from '../../model/agent.js';
import { RENDERED_BYTES_SETTING, renderTemplates, type TemplateScope } from '../../lang/templates.js';
import { jsonBytes } from '../../lang/text-size.js';
import type { ExecutionContext, StepExecutor } from '../executor.js';
import { progressReporter } from './progress.js';
import { delegationOf, orchestrate, type ReadRuns } from './orchestrator.js';
import { structuredCall } from './structured.js';
import type { SchemaValidator } from '../../lang/schema-checker.js';

export interface AgentExecutorDeps {
  registry: AgentRegistry;
  providerFor: (agent: string) => Provider;
  /** Recent runs of a workspace, for an orchestrator's `read_runs` tool. */
  readRuns?: ReadRuns;
  /** Checks structured answers off the event loop (the process's schema thread). */
  schemas?: SchemaValidator;
}

/**
 * The scope templates read: the run input and the outputs of the steps read; `maxBytes` bounds
 * what is rendered or built over it (SWITCHYARD_MAX_RENDERED_BYTES).
 */
export function templateScope(
  runInput: Record<string, unknown>,
  reads: readonly { stepId: string; status: string; output: unknown }[],
  context?: Record<string, unknown>,
  maxBytes?: number,
): TemplateScope {
  return {
    input: runInput,
    steps: Object.fromEntries(reads.map((r) => [r.stepId, { status: r.status, output: r.output }])),
    ...(context ? { context } : {}),
    ...(maxBytes !== undefined ? { maxBytes } : {}),
  };
}

/** The scope of a step's templates and expressions, bounded by its limits. */
export const scopeOf = (ctx: Pick<ExecutionContext, 'runInput' | 'reads' | 'context' | 'bounds'>): TemplateScope =>
  templateScope(ctx.runInput, ctx.reads, ctx.context, ctx.bounds.maxRenderedBytes);

/** A call of `agent` with its model, prompt, temperature and token limit, on `messages`. */
export function requestOf(
  agent: ResolvedAgent,
  messages: ChatMessage[],
  ctx: Pick<ExecutionContext, 'signal' | 'timeoutMs' | 'callKey'>,
  callName?: string,
): CompletionRequest {
  const { signal, timeoutMs } = ctx;
  return {
    timeoutMs,
    callKey: ctx.callKey(callName),
    agent: agent.name,
    model: agent.model,
    system: agent.systemPrompt || undefined,
    messages,
    ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
    maxTokens: agent.maxTokens,
    signal,
  };
}

/**
 * `value` with its templates rendered over the run input and the steps the step reads (and
 * `vars`, the names a kind provides). A failure is not retryable: the same input fails again.
 */
export function renderFor<T>(
  value: T,
  ctx: Pick<ExecutionContext, 'runInput' | 'reads' | 'context' | 'bounds'>,
  what: string,
  vars?: Record<string, unknown>,
): T {
  return renderWith(value, scopeOf(ctx), what, vars);
}

/** renderFor over a scope built once (a kind that renders many values over the same one). */
export function renderWith<T>(value: T, scope: TemplateScope, what: string, vars?: Record<string, unknown>): T {
  try {
    return renderTemplates(value, { ...scope, ...(vars ? { vars } : {}) });
  } catch (err) {
    throw new NonRetryableError(`could not render ${what}: ${toError(err).message}`);
  }
}

/**
 * What a step sends its model is bounded like rendered text (SWITCHYARD_MAX_RENDERED_BYTES),
 * with what is added to its input besides templates (dependencies' outputs, a previous draft,
 * the outputs a synthesis reads): measured before the prompt is built. `what` names it.
 */
export function assertWithinPrompt(value: unknown, ctx: Pick<ExecutionContext, 'bounds'>, what: string): void {
  const max = ctx.bounds.maxRenderedBytes;
  if (jsonBytes(value, max) > max) throw new NonRetryableError(`${what} is more than ${max} bytes of text (${RENDERED_BYTES_SETTING})`);
}

/** A kind's own expression (a loop's `until`, a gate's rule) over `scope`; a failure is not retryable. */
export function evaluateFor(expr: string, scope: TemplateScope, what: string): boolean {
  try {
    return evaluateWhen(expr, scope);
  } catch (err) {
    throw new NonRetryableError(`could not evaluate ${what}: ${toError(err).message}`);
  }
}

export function agentExecutor(deps: AgentExecutorDeps): StepExecutor<'agent'> {
  return {
    async execute(step, ctx) {
      const agent = deps.registry.require(step.agent);
      let input = step.literal ? step.input : renderFor(step.input, ctx, 'the step input');
      // Rerun from this step: the feedback and the previous answer, never template-rendered.
      if (step.feedback) input = { ...input, context: { ...input.context, feedback: step.feedback.text, previousOutput: step.feedback.previousOutput } };
      if (step.dependencyOutputs && step.dependsOn.length) {
        // A plan's step: its dependencies' outputs, by their id within the plan.
        const outputs = Object.fromEntries(ctx.reads.filter((r) => step.dependsOn.includes(r.stepId)).map((r) => [r.stepId.split('.').at(-1)!, r.output]));
        input = { ...input, context: { ...input.context, dependencies: outputs } };
      }
      assertWithinPrompt(input, ctx, 'the step input, its context included,');
      // Kept with whatever write comes next: a step that fails shows what it was given.
      ctx.record({ input });
      // An agent with delegates is an orchestrator wherever it runs, except where a structured
      // answer is asked for (a critic's verdict, a structured step): that is one call.
      const schema = step.outputSchema ?? agent.output?.schema;
      const delegation = delegationOf(agent, step);
      if (delegation.active && !schema) return orchestrate(deps, agent, step, input, delegation, ctx);
      const t0 = Date.now();
      const delegationOff = !delegation.delegates.length
        ? {}
        : { delegation: delegation.active ? 'off: a structured answer is one call' : `off: at the depth limit (maxDepth ${delegation.maxDepth})` };
      const provider = ctx.metered(deps.providerFor(step.agent));
      const request = requestOf(agent, buildMessages(input), ctx);
      if (schema) {
        const answer = await structuredCall(provider, request, schema, { keep: ctx, validator: deps.schemas });
        const event = { durationMs: Date.now() - t0, structured: true, rounds: answer.rounds, ...delegationOff };
        return { type: 'succeeded', output: answer.value, input, model: answer.model, event };
      }
      const onText = agent.stream ? { onText: progressReporter(t0, agent.progressIntervalMs, ctx.signal, (p) => ctx.progress(p)) } : {};
      const answer = await provider.complete({ ...request, ...onText });
      const event = { durationMs: Date.now() - t0, ...(answer.stopReason ? { stopReason: answer.stopReason } : {}), ...delegationOff };
      return { type: 'succeeded', output: answer.text, input, model: answer.model, event };
    },
  };
}
