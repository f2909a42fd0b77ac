/** A provider call of an agent, as every kind that calls one builds it. */
import type { ChatMessage, CompletionRequest } from '../../calls/provider.js';
import type { ResolvedAgent } from '../../model/agent.js';
import type { ExecutionContext } from '../executor.js';

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
