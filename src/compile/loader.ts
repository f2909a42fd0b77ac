/**
 * Loads flows/*.yaml at start-up (and one file for `switchyard validate`). Every problem becomes a
 * ConfigError naming the file, the line and the column: for malformed YAML the parser's
 * position, for an invalid workflow the node its issue path points at (or the nearest parent
 * that exists, for a missing key). All files are checked before throwing so one start-up shows
 * every broken file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, ValidationError } from '../errors/index.js';
import type { Bounds } from '../config/env.js';
import { compileWorkflow } from './compile.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import { readYaml, type YamlSource } from '../lang/yaml-source.js';

/** Parse one workflow YAML text into a plain value (not yet compiled); ConfigError names `source` and the line. */
export function parseWorkflowYaml(text: string, source: string): unknown {
  return readYaml(text, source).value;
}

/**
 * One workflow file's text → its workflow, or the ConfigError describing what is wrong with it:
 * each issue's message starts `<file>:<line>:<col>: <path>: ` (the node its path names, or the
 * nearest parent that exists, for a missing key), as compilers and editors print positions.
 */
export function checkWorkflowText(text: string, file: string, agents: readonly string[], bounds: Bounds | undefined): CompiledWorkflow | ConfigError {
  let source: YamlSource;
  try {
    source = readYaml(text, file);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  try {
    return compileWorkflow(source.value, { agents, source: file, ...(bounds ? { bounds } : {}) });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const issues = source.located(err.issues);
    const list = err.issues
      .map((i, n) => `\n  - ${issues[n]?.line ? `line ${issues[n].line}, column ${issues[n].col}, ` : ''}${i.path || '(root)'}: ${i.message}`)
      .join('');
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
    return new ConfigError(`${file}: invalid workflow (${count}):${list}`, issues);
  }
}

/** One file → its workflow, or the ConfigError describing what is wrong with it. */
function loadFile(file: string, agents: readonly string[], bounds: Bounds | undefined): CompiledWorkflow | ConfigError {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const message = `${file}: cannot read: ${err instanceof Error ? err.message : String(err)}`;
    return new ConfigError(message, [{ path: file, message }]);
  }
  return checkWorkflowText(text, file, agents, bounds);
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
