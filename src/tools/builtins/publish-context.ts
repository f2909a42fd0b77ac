/**
 * `publish_context {name, value}`: a value for a name of the run's shared context, kept with
 * the step and published when the step succeeds, with the same writer metadata as its `publish`
 * (its place in the topological order, its agent's authority), so the compile-time rules hold:
 * the step may give only names its `publish` declares (`publish: [names]`, `{as: name}`, or
 * `publish: true` for any valid name), readers of them come after it, and no publisher of the
 * same name runs at the same time as a reader. A value given here wins over its output's field
 * of that name; a name given again takes the new value; a step that fails publishes nothing.
 */
import { z } from 'zod';
import { StaleAttemptError } from '../../errors/index.js';
import { ContextName, mayPublish, type PublishFields } from '../../model/step.js';
import type { ToolCallScope, ToolOutcome } from '../tool.js';
import { argsProblems, toolError, type BuiltinDeps, type BuiltinFactory, type BuiltinStep } from './deps.js';
import { PUBLISH_CONTEXT_TOOL } from '../../model/tool.js';

/** Most names one step gives through publish_context (as `publish: [...]` may list). */
export const MAX_CONTEXT_DRAFTS = 100;

const PublishArgs = z
  .object({
    name: ContextName,
    value: z.unknown().refine((v) => v !== undefined, 'is required'),
  })
  .strict();

/** The names a step may give, in words. */
const namesOf = (publishes: PublishFields | null): string =>
  publishes === null ? 'none' : publishes === 'all' ? 'any valid name' : (Array.isArray(publishes) ? publishes : [publishes.as]).join(', ');

export function publishContextDefinition(publishes: PublishFields | null) {
  const names = namesOf(publishes);
  return {
    name: PUBLISH_CONTEXT_TOOL,
    description:
      "Set a value in the run's shared context, which later steps read. It is published when you finish successfully " +
      `(a name given again takes the new value). Names you may set: ${names}.`,
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'the context name (letters, digits, "_" or "-", starting with a letter or "_")' },
        value: { description: 'any JSON value' },
      },
      required: ['name', 'value'],
    },
  };
}

export function publishContext(deps: BuiltinDeps): BuiltinFactory {
  return (ctx) => ({
    definition: publishContextDefinition(ctx.publishes ?? null),
    kind: 'builtin',
    needsApproval: () => false,
    call: (args, scope) => put(deps, ctx, args, scope),
  });
}

async function put(deps: BuiltinDeps, ctx: BuiltinStep, raw: unknown, scope: ToolCallScope): Promise<ToolOutcome> {
  const args = PublishArgs.safeParse(raw ?? {});
  if (!args.success) return argsProblems(PUBLISH_CONTEXT_TOOL, args.error.issues);
  const { name, value } = args.data;
  if (!ctx.publishes)
    return toolError(`step "${scope.stepId}" publishes nothing into the run's context; its workflow must declare publish: [${name}] on it first`);
  if (!mayPublish(ctx.publishes, name)) return toolError(`step "${scope.stepId}" may not publish "${name}" (its publish declares: ${namesOf(ctx.publishes)})`);
  const reply = await deps.drafts.put({
    scope: deps.scopeOf(scope.workspace),
    runId: scope.runId,
    stepId: scope.stepId,
    attempt: ctx.attempt,
    name,
    value,
    maxNames: MAX_CONTEXT_DRAFTS,
    maxBytes: ctx.bounds.maxOutputBytes,
  });
  switch (reply.result) {
    case 'stored':
      return { content: `"${name}" will be published into the run's context when this step succeeds.` };
    case 'full':
      return toolError(`this step already gives ${reply.names} context names, the most it may (${MAX_CONTEXT_DRAFTS})`);
    case 'too_large':
      return toolError(`this step's context values would take ${reply.bytes} bytes, more than ${ctx.bounds.maxOutputBytes} (SWITCHYARD_MAX_OUTPUT_BYTES)`);
    default:
      throw new StaleAttemptError(`step "${scope.stepId}" is no longer running attempt ${ctx.attempt}; context "${name}" was not kept`);
  }
}
