/** What a step with `publish` puts into its run's shared context (written with its result). */
import { parseOutputJson } from '../lang/templates.js';
import { ContextName, type CompiledStep } from '../kinds/definition.js';
import { mayPublish } from '../model/step.js';
import type { ContextPublish } from '../store/scripts/index.js';

/** Most names one result publishes (`publish: true` on an output with more fields keeps the first). */
const MAX_PUBLISHED = 1000;

/**
 * What a step with `publish` (compiled `toContext`) puts into its run's context: the named top-level fields of its
 * output (a text holding JSON is parsed), or all of them; a text without a JSON object, under
 * the step's id. A field the output lacks is not published. `drafts`: the values its
 * publish_context calls gave (names it may publish only), which win over its output's.
 */
export function contextPublish(
  step: CompiledStep,
  output: unknown,
  authorityOf?: (agent: string) => number,
  drafts: Record<string, unknown> = {},
): ContextPublish {
  const spec = step.toContext!;
  const parsed = typeof output === 'string' ? parseOutputJson(output) : output;
  const object = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  let entries: [string, unknown][];
  if (typeof spec.fields === 'object' && !Array.isArray(spec.fields)) entries = [[spec.fields.as, output]];
  else if (!object) entries = spec.fields === 'all' ? [[step.id.replace(/\./g, '_'), output]] : [];
  else if (spec.fields === 'all') entries = Object.entries(object).filter(([k]) => ContextName.safeParse(k).success);
  else entries = spec.fields.filter((f) => Object.hasOwn(object, f) && object[f] !== undefined).map((f) => [f, object[f]]);
  const given = Object.entries(drafts).filter(([name]) => mayPublish(spec.fields, name));
  if (given.length) entries = [...entries.filter(([name]) => !Object.hasOwn(drafts, name)), ...given];
  // The writer's own authority is reported whatever the rule; it ranks only under `conflict: authority`.
  const authority = step.agent ? (authorityOf?.(step.agent) ?? 1) : 0;
  return { entries: entries.slice(0, MAX_PUBLISHED), order: spec.order, authority, byAuthority: spec.byAuthority };
}
