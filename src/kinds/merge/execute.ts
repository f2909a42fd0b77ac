/**
 * `kind: merge`, run by the engine on its control queue with no LLM call of its own: a deep
 * merge of the JSON object outputs of the steps it names (a text holding JSON is parsed):
 * objects merge key by key; where values differ (scalars, lists, or an object against a
 * scalar), the step first in `priority` wins, and the conflict is listed with every value.
 * Output `{merged, conflicts: [{path, chosen, values: [{step, value}]}]}`.
 */
import { NonRetryableError } from '../../errors/index.js';
import { parseOutputJson } from '../../lang/templates.js';
import { setOwn } from '../../model/json.js';
import type { StepExecutor } from '../executor.js';

export interface MergeConflict {
  path: string;
  chosen: string;
  values: { step: string; value: unknown }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergeExecutor(): StepExecutor<'merge'> {
  return {
    execute(step, ctx) {
      const byId = new Map(ctx.reads.map((r) => [r.stepId, r]));
      const inputs = step.priority.flatMap((id) => {
        const r = byId.get(id);
        if (r?.status !== 'succeeded') return [];
        const value = typeof r.output === 'string' ? parseOutputJson(r.output) : r.output;
        if (!isObject(value))
          throw new NonRetryableError(
            `merge needs JSON objects; step "${id}" answered ${typeof r.output === 'string' ? 'a text without a JSON object' : JSON.stringify(r.output)?.slice(0, 80)}`,
          );
        return [{ step: id, value }];
      });
      const conflicts: MergeConflict[] = [];
      const merged = mergeAt('', inputs, conflicts);
      return { type: 'succeeded', output: { merged, conflicts }, event: { merged: inputs.length, conflicts: conflicts.length } };
    },
  };
}

/** Merge `inputs` (the winner first) at `path`; conflicts are appended to `conflicts`. */
function mergeAt(path: string, inputs: { step: string; value: unknown }[], conflicts: MergeConflict[]): unknown {
  if (inputs.every((i) => isObject(i.value))) {
    const keys = [...new Set(inputs.flatMap((i) => Object.keys(i.value as object)))];
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const here = inputs.filter((i) => Object.hasOwn(i.value as object, k)).map((i) => ({ step: i.step, value: (i.value as Record<string, unknown>)[k] }));
      setOwn(out, k, mergeAt(path ? `${path}.${k}` : k, here, conflicts));
    }
    return out;
  }
  const distinct = new Set(inputs.map((i) => JSON.stringify(i.value)));
  if (distinct.size > 1) conflicts.push({ path: path || '(root)', chosen: inputs[0]!.step, values: inputs });
  return inputs[0]!.value;
}
