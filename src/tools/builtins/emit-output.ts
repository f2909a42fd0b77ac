/**
 * `emit_output {name, content, format?}`: a named work output kept on the run (the seeds'
 * Thinking Partner `emit_work_output`), listed by `GET /v1/runs/:id/outputs`. One per (step,
 * name): emitting a name again replaces the step's own earlier output; a call delivered again
 * (the same `<run>.<step>.<turn>.<call>` key) changes nothing. Bounded: MAX_WORK_OUTPUT_BYTES
 * per output, MAX_WORK_OUTPUTS per run, SWITCHYARD_MAX_OUTPUT_BYTES for all of a run's together;
 * past them the model gets a tool error saying which.
 */
import { z } from 'zod';
import { StaleAttemptError } from '../../errors/index.js';
import { MAX_WORK_OUTPUT_BYTES, MAX_WORK_OUTPUTS, WorkOutputFormat, WorkOutputName } from '../../model/work-output.js';
import type { ToolCallScope, ToolOutcome } from '../tool.js';
import { argsProblems, toolError, type BuiltinDeps, type BuiltinFactory, type BuiltinStep } from './deps.js';
import { EMIT_OUTPUT_TOOL } from '../../model/tool.js';

const EmitArgs = z
  .object({
    name: WorkOutputName,
    /** Text; for `json`, a JSON text or any JSON value (kept as its JSON text). */
    content: z.unknown().refine((v) => v !== undefined && v !== null, 'is required'),
    format: WorkOutputFormat.optional(),
  })
  .strict();

export const emitOutputDefinition = {
  name: EMIT_OUTPUT_TOOL,
  description:
    'Keep a named work output on this run (a report, a recommendation, a data set) for people and programs to read after it. ' +
    'Emitting the same name again replaces your earlier output of that name.',
  inputSchema: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'what the output is called, e.g. "Competitive Positioning Strategy"' },
      content: { description: 'the output: text (markdown or plain), or for format json a JSON value' },
      format: {
        type: 'string',
        enum: WorkOutputFormat.options,
        description: 'markdown (the default for text), json (the default for a non-text value) or text',
      },
    },
    required: ['name', 'content'],
  },
};

export function emitOutput(deps: BuiltinDeps): BuiltinFactory {
  return (ctx) => ({
    definition: emitOutputDefinition,
    kind: 'builtin',
    needsApproval: () => false,
    call: (args, scope) => emit(deps, ctx, args, scope),
  });
}

/** The content as kept: its text, and its format. */
function contentOf(content: unknown, format: WorkOutputFormat | undefined): { text: string; format: WorkOutputFormat } | string {
  if (typeof content !== 'string') {
    if (format !== undefined && format !== 'json') return `content must be text for format ${format} (give format json for a JSON value)`;
    return { text: JSON.stringify(content, null, 2), format: 'json' };
  }
  if (format === 'json') {
    try {
      JSON.parse(content);
    } catch (err) {
      return `content is not valid JSON for format json (${(err as Error).message})`;
    }
  }
  return { text: content, format: format ?? 'markdown' };
}

async function emit(deps: BuiltinDeps, ctx: BuiltinStep, raw: unknown, scope: ToolCallScope): Promise<ToolOutcome> {
  const args = EmitArgs.safeParse(raw ?? {});
  if (!args.success) return argsProblems(EMIT_OUTPUT_TOOL, args.error.issues);
  const { name } = args.data;
  const content = contentOf(args.data.content, args.data.format);
  if (typeof content === 'string') return toolError(content);
  const bytes = Buffer.byteLength(content.text);
  if (bytes > MAX_WORK_OUTPUT_BYTES)
    return toolError(`output "${name}" is ${bytes} bytes; an output may have at most ${MAX_WORK_OUTPUT_BYTES}: shorten it, or split it into several outputs`);
  const reply = await deps.outputs.emit({
    scope: deps.scopeOf(scope.workspace),
    runId: scope.runId,
    attempt: ctx.attempt,
    maxOutputs: MAX_WORK_OUTPUTS,
    maxBytes: ctx.bounds.maxOutputBytes,
    output: {
      name,
      format: content.format,
      content: content.text,
      stepId: scope.stepId,
      turn: scope.turn,
      callKey: scope.idempotencyKey,
      createdAt: new Date().toISOString(),
    },
  });
  switch (reply.result) {
    case 'stored':
    case 'unchanged':
      return { content: `Kept output "${name}" (${content.format}, ${bytes} bytes) on the run.` };
    case 'replaced':
      return { content: `Replaced your earlier output "${name}" (${content.format}, ${bytes} bytes).` };
    case 'full':
      return toolError(`the run already keeps ${reply.outputs} outputs, the most it may (${MAX_WORK_OUTPUTS}); replace one by emitting its name again`);
    case 'too_large':
      return toolError(
        `the run's outputs would take ${reply.bytes} bytes, more than the ${ctx.bounds.maxOutputBytes} a run may keep (SWITCHYARD_MAX_OUTPUT_BYTES); shorten this one or replace an earlier one`,
      );
    default:
      // The step no longer runs this attempt, or its run ended: the step machine sorts it out.
      throw new StaleAttemptError(
        `step "${scope.stepId}" cannot keep output "${name}": ${reply.result === 'run_ended' ? `its run is ${reply.status}` : reply.result}`,
      );
  }
}
