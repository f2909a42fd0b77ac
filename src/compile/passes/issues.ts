/**
 * Problems as the compiler reports them: each at a readable path of the document
 * (`steps[1].parallel[0].agent`), zod's issues turned into those, and the one error that
 * lists them all.
 */
import type { z } from 'zod';
import { ValidationError, type Issue } from '../../errors/index.js';
import { STEP_DEFINITIONS } from '../../kinds/definition.js';
import { kindOf } from '../input.js';

type Segment = PropertyKey;

/** `['steps', 1, 'parallel', 0, 'agent']` → `steps[1].parallel[0].agent`. */
export function formatPath(segments: readonly Segment[], base = ''): string {
  let out = base;
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (typeof s === 'string' && /^[A-Za-z_$][\w$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}

export function valueAt(root: unknown, path: readonly Segment[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** zod issues → our issues. A failed Block union is explained by the branch the author meant. */
export function fromZod(issues: readonly z.core.$ZodIssue[], root: unknown, base: readonly Segment[] = []): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const value = valueAt(root, path);
    if (issue.code === 'invalid_union') {
      // Block is z.union([sequential, parallel, pattern, step]) in definition.ts; pick by the keys present.
      const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
      const branch = obj === undefined ? undefined : 'sequential' in obj ? 0 : 'parallel' in obj ? 1 : 'pattern' in obj ? 2 : 3;
      const chosen = branch === undefined ? undefined : issue.errors[branch];
      if (chosen) out.push(...fromZod(chosen, root, path));
      else if ('discriminator' in issue && issue.discriminator === 'pattern') {
        // The issue's path ends at the `pattern` field itself.
        out.push({ path: formatPath(path), message: `unknown pattern ${JSON.stringify(value)}; patterns: sequential, parallel, hierarchical, consensus` });
      } else if ('discriminator' in issue && issue.discriminator === 'kind') {
        // The step's `kind` names no kind.
        out.push({ path: formatPath(path), message: `unknown step kind ${JSON.stringify(value)}; kinds: ${Object.keys(STEP_DEFINITIONS).join(', ')}` });
      } else
        out.push({
          path: formatPath(path),
          message: `expected a step {id, agent, input} or a {sequential: [...]} / {parallel: [...]} block, got ${kindOf(value)}`,
        });
    } else if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: `unknown key "${key}"` });
    } else if (issue.code === 'invalid_type') {
      out.push({
        path: formatPath(path),
        message: value === undefined ? `is required (${issue.expected})` : `expected ${issue.expected}, got ${kindOf(value)}`,
      });
    } else if (issue.code === 'invalid_key') {
      out.push({ path: formatPath(path), message: `invalid name: ${issue.issues.map((i) => i.message).join('; ')}` });
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

export function fail(name: string | undefined, source: string | undefined, issues: Issue[]): never {
  const what = `workflow${name ? ` "${name}"` : ''}${source && source !== 'inline' ? ` (${source})` : ''}`;
  const n = issues.length;
  const list = issues.map((i) => `\n  - ${i.path ? `${i.path}: ` : ''}${i.message}`).join('');
  throw new ValidationError(`${what} is invalid (${n} problem${n === 1 ? '' : 's'}):${list}`, issues);
}
