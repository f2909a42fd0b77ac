/**
 * `switchyard validate <file.yaml>...`: check workflow files and agents files offline, as the
 * server would load them, and say where each problem is (`file:line:col: path: message`).
 * A file with a top-level `agents:` map and no `steps:` is an agents file; any other is a
 * workflow, checked against the agents of an agents file given in the same command, else of the
 * configured one (SWITCHYARD_AGENTS).
 */
import { readFileSync } from 'node:fs';
import { loadAgentsFile, resolveAgents } from '../agents/registry.js';
import { checkWorkflowText } from '../compile/loader.js';
import type { Config } from '../config/env.js';
import { ConfigError, type Issue } from '../errors/index.js';
import { readYaml, type YamlSource } from '../lang/yaml-source.js';

export interface FileReport {
  file: string;
  kind: 'workflow' | 'agents' | 'unknown';
  valid: boolean;
  /** What it holds when valid: the workflow's name and step count, or the agents' names. */
  summary?: string;
  /** Each problem, its message starting `file:line:col: ` where the position is known. */
  problems: Issue[];
}

type Read = { file: string; text: string; source: YamlSource } | FileReport;

function read(file: string): Read {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const message = `${file}: cannot read: ${(err as Error).message}`;
    return { file, kind: 'unknown', valid: false, problems: [{ path: '', message }] };
  }
  try {
    return { file, text, source: readYaml(text, file) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { file, kind: 'unknown', valid: false, problems: err.issues };
  }
}

const isAgentsFile = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && 'agents' in value && !('steps' in value);

function checkAgents(file: string, source: YamlSource, config: Config, env: Record<string, string | undefined>): FileReport & { names?: string[] } {
  try {
    const registry = resolveAgents(source.value, config, file, env);
    const names = registry.names();
    return { file, kind: 'agents', valid: true, summary: `${names.length} agents: ${names.join(', ')}`, problems: [], names: [...names] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { file, kind: 'agents', valid: false, problems: source.located(err.issues) };
  }
}

/** Check `files`; one report each, in order. */
export function validateFiles(files: readonly string[], config: Config, env: Record<string, string | undefined> = process.env): FileReport[] {
  const parsed = files.map(read);
  const reports = new Map<string, FileReport>();
  let agentNames: string[] | undefined;
  for (const r of parsed) {
    if ('problems' in r || !isAgentsFile(r.source.value)) continue;
    const { names, ...report } = checkAgents(r.file, r.source, config, env);
    reports.set(r.file, report);
    if (names) agentNames = [...(agentNames ?? []), ...names];
  }
  const workflowsToCheck = parsed.some((r) => !('problems' in r) && !reports.has(r.file));
  let agentsProblem: Issue | undefined;
  if (workflowsToCheck && agentNames === undefined) {
    try {
      agentNames = [...loadAgentsFile(config.agentsFile, config, env).names()];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      agentsProblem = { path: '', message: `the agents file the workflows are checked against is invalid (${err.message}); name a valid one too` };
    }
  }
  return parsed.map((r) => {
    if ('problems' in r) return r;
    const done = reports.get(r.file);
    if (done) return done;
    if (agentsProblem) return { file: r.file, kind: 'workflow', valid: false, problems: [agentsProblem] };
    const result = checkWorkflowText(r.text, r.file, agentNames ?? [], config.bounds);
    if (result instanceof ConfigError) return { file: r.file, kind: 'workflow', valid: false, problems: result.issues };
    const summary = `workflow "${result.name}", ${result.steps.length} step${result.steps.length === 1 ? '' : 's'}`;
    return { file: r.file, kind: 'workflow', valid: true, summary, problems: [] };
  });
}

/** The reports as text: one line per valid file, one per problem. */
export function formatReports(reports: readonly FileReport[]): { out: string; err: string } {
  let out = '';
  let err = '';
  for (const r of reports) {
    if (r.valid) out += `${r.file}: ok (${r.summary})\n`;
    else for (const p of r.problems) err += `${p.message}\n`;
  }
  return { out, err };
}
