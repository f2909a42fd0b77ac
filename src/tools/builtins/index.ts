/**
 * The engine's built-in tools an agent's `tools:` may list, as factories of the step they serve
 * (the toolbox, src/tools/toolbox.ts, offers them): `emit_output` (a named work output kept on
 * the run) and `publish_context` (a value for the run's shared context, published when the step
 * succeeds). `delegate` and `read_runs` are the agent kind's own (src/kinds/agent).
 */
import type { BuiltinDeps, BuiltinFactory } from './deps.js';
import { emitOutput } from './emit-output.js';
import { EMIT_OUTPUT_TOOL, PUBLISH_CONTEXT_TOOL } from '../../model/tool.js';
import { publishContext } from './publish-context.js';

export type { BuiltinDeps, BuiltinFactory, BuiltinStep } from './deps.js';
export { EMIT_OUTPUT_TOOL, PUBLISH_CONTEXT_TOOL } from '../../model/tool.js';

/** The built-ins by name. */
export function createBuiltins(deps: BuiltinDeps): Map<string, BuiltinFactory> {
  return new Map<string, BuiltinFactory>([
    [EMIT_OUTPUT_TOOL, emitOutput(deps)],
    [PUBLISH_CONTEXT_TOOL, publishContext(deps)],
  ]);
}
