/**
 * Loads flows/*.yaml at start-up. Every problem becomes a ConfigError naming the file, and the
 * line: for malformed YAML the parser's position, for an invalid workflow the line of the node
 * its issue path points at (or of the nearest parent that exists, for a missing key). All files
 * are checked before throwing so one start-up shows every broken file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, ValidationError, type Issue } from '../errors/index.js';
import type { Bounds } from '../config/env.js';
import { compileWorkflow } from './compile.js';
import type { CompiledWorkflow } from '../kinds/definition.js';

interface ParsedYaml {
  value: unknown;
  doc: Document;
  lines: LineCounter;
}

function parseYaml(text: string, source: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const [error] = doc.errors;
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? `:${at.line}:${at.col}` : '';
    const message = `${source}${where}: malformed YAML: ${error.message.trimEnd()}`;
    throw new ConfigError(message, [{ path: source, message }]);
  }
  // toJS keeps yaml's alias-expansion limit, which guards against "billion laughs" documents.
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) {
    const message = `${source}: file is empty`;
    throw new ConfigError(message, [{ path: source, message }]);
  }
  return { value, doc, lines };
}

/** Parse one workflow YAML text into a plain value (not yet compiled); ConfigError names `source` and the line. */
export function parseWorkflowYaml(text: string, source: string): unknown {
  return parseYaml(text, source).value;
}

/** `steps[1].parallel[0]["my-key"]` → ['steps', 1, 'parallel', 0, 'my-key'] (the inverse of formatPath). */
function splitPath(p: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of p.matchAll(/([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3] ?? '""') as string);
  }
  return out;
}

/** 1-based line of the node an issue path names, or of its nearest existing parent. */
function lineOf({ doc, lines }: ParsedYaml, issuePath: string): number | undefined {
  const segments = splitPath(issuePath);
  for (let n = segments.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(segments.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return undefined;
}

/** One file → its workflow, or the ConfigError describing what is wrong with it. */
function loadFile(file: string, agents: readonly string[], bounds: Bounds | undefined): CompiledWorkflow | ConfigError {
  let parsed: ParsedYaml;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    const message = `${file}: cannot read: ${err instanceof Error ? err.message : String(err)}`;
    return new ConfigError(message, [{ path: file, message }]);
  }
  try {
    return compileWorkflow(parsed.value, { agents, source: file, ...(bounds ? { bounds } : {}) });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const lines = err.issues.map((i) => lineOf(parsed, i.path));
    const issues: Issue[] = err.issues.map((i, n) => ({ path: i.path, message: `${file}${lines[n] ? `:${lines[n]}` : ''}: ${i.message}` }));
    const list = err.issues.map((i, n) => `\n  - ${lines[n] ? `line ${lines[n]}, ` : ''}${i.path || '(root)'}: ${i.message}`).join('');
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
    return new ConfigError(`${file}: invalid workflow (${count}):${list}`, issues);
  }
}

/**
 * Load and compile every *.yaml / *.yml file of `dir` (sorted by name). A missing directory gives
 * an empty map. Throws one ConfigError covering every broken file and duplicated workflow name.
 */
export function loadWorkflowsDir(dir: string, agents: readonly string[], bounds?: Bounds): Map<string, CompiledWorkflow> {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    const message = `${dir}: cannot read workflows directory: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(message, [{ path: dir, message }]);
  }

  const workflows = new Map<string, CompiledWorkflow>();
  const errors: ConfigError[] = [];
  for (const name of names) {
    const result = loadFile(path.join(dir, name), agents, bounds);
    if (result instanceof ConfigError) {
      errors.push(result);
      continue;
    }
    const other = workflows.get(result.name);
    if (other) {
      const message = `workflow "${result.name}" is defined in both ${other.source} and ${result.source}`;
      errors.push(new ConfigError(message, [{ path: 'name', message }]));
      continue;
    }
    workflows.set(result.name, result);
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) {
    const message = `${errors.length} problems in ${dir}:\n${errors.map((e) => e.message).join('\n')}`;
    throw new ConfigError(
      message,
      errors.flatMap((e) => e.issues),
    );
  }
  return workflows;
}
