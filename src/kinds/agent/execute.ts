/**
 * `kind: agent`: one call to the step's agent (or, for an agent with tools or delegates, a
 * conversation of turns with tool calls: tool-loop.ts). Renders the input's templates, builds the
 * conversation, calls the provider under the step's signal (streaming when the agent says so,
 * with progress reports and its text to live viewers) and returns the answer; the machine
 * records it before the job completes, so a delivery after that point returns it without a
 * second call.
 */
import { buildMessages } from '../../calls/prompt.js';
import type { Provider } from '../../calls/provider.js';
import type { ResolvedAgent } from '../../model/agent.js';
import type { SchemaValidator } from '../../lang/schema-checker.js';
import type { StepExecutor } from '../executor.js';
import { withDeltas } from '../shared/deltas.js';
import { progressReporter } from '../shared/progress.js';
import { requestOf } from '../shared/request.js';
import { assertWithinPrompt, renderFor } from '../shared/scope.js';
import { structuredCall } from '../shared/structured.js';
import { NO_TOOL_SOURCES, type ToolSources } from '../../tools/toolbox.js';
import { delegationOf } from './delegation.js';
import { loopSetup } from './loop-setup.js';
import { runToolLoop } from './tool-loop.js';

export interface AgentExecutorDeps {
  /** The provider an agent (resolved for the step's workspace: ctx.agents) is called through. */
  providerFor: (agent: ResolvedAgent) => Provider;
  /** Where the tools an agent's `tools:` names are made (none given: only delegation is offered). */
  tools?: ToolSources;
  /** Checks structured answers off the event loop (the process's schema thread). */
  schemas?: SchemaValidator;
}

export function agentExecutor(deps: AgentExecutorDeps): StepExecutor<'agent'> {
  return {
    async execute(step, ctx) {
      const agent = ctx.agents.require(step.agent);
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
      // An agent with tools or delegates runs the tool loop wherever it runs, except where a
      // structured answer is asked for (a critic's verdict, a structured step): that is one call.
      const schema = step.outputSchema ?? agent.output?.schema;
      const delegation = delegationOf(agent, step);
      if ((delegation.active || agent.tools.length > 0) && !schema) {
        const setup = await loopSetup(agent, step, delegation, ctx, deps.tools ?? NO_TOOL_SOURCES);
        return runToolLoop(deps.providerFor(agent), agent, step, input, setup, ctx);
      }
      const t0 = Date.now();
      const delegationOff = !delegation.delegates.length
        ? {}
        : { delegation: delegation.active ? 'off: a structured answer is one call' : `off: at the depth limit (maxDepth ${delegation.maxDepth})` };
      const toolsOff = schema && agent.tools.length ? { tools: 'off: a structured answer is one call' } : {};
      const provider = ctx.metered(deps.providerFor(agent));
      const request = requestOf(agent, buildMessages(input), ctx);
      if (schema) {
        const answer = await structuredCall(provider, request, schema, { keep: ctx, validator: deps.schemas });
        const event = { durationMs: Date.now() - t0, structured: true, rounds: answer.rounds, ...delegationOff, ...toolsOff };
        return { type: 'succeeded', output: answer.value, input, model: answer.model, event };
      }
      // Streaming: the text to live viewers (step.delta) and its length (step.progress) as it arrives.
      const progress = agent.stream ? progressReporter(t0, agent.progressIntervalMs, ctx.signal, (p) => ctx.progress(p)) : undefined;
      const answer = await withDeltas(ctx, agent.stream, (streaming) => provider.complete(streaming.onText ? { ...request, ...streaming } : request), progress);
      const event = { durationMs: Date.now() - t0, ...(answer.stopReason ? { stopReason: answer.stopReason } : {}), ...delegationOff };
      return { type: 'succeeded', output: answer.text, input, model: answer.model, event };
    },
  };
}
