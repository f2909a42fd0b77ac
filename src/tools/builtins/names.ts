/** The names of the engine's built-in tools an agent's `tools:` may list (see docs/tools.md#built-in-tools). */
export const EMIT_OUTPUT_TOOL = 'emit_output';
export const PUBLISH_CONTEXT_TOOL = 'publish_context';
