/** Turns a step's input into the conversation sent to a provider. */
import type { UserMessage } from './provider.js';

/** A step's rendered input (kinds' StepInput): its task, and the context given with it. */
export interface PromptInput {
  task: string;
  context?: Record<string, unknown> | undefined;
}

/**
 * One user message: the task, then (when the step has a non-empty context) a blank line,
 * `Context:` and the context as pretty JSON, so every provider sees the same prompt.
 */
export function buildMessages(input: PromptInput): UserMessage[] {
  let content = input.task;
  if (input.context && Object.keys(input.context).length > 0) {
    content += `\n\nContext:\n${JSON.stringify(input.context, null, 2)}`;
  }
  return [{ role: 'user', content }];
}
