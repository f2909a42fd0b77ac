/**
 * A YAML file read with its positions: its plain value, and where (line and column, 1-based)
 * an issue's path points in the text, so a problem found in the value (a workflow that does not
 * compile, an agent with a bad field) is reported where the user typed it.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { ConfigError, type Issue } from '../errors/index.js';

export interface Position {
  line: number;
  col: number;
}

export interface YamlSource {
  value: unknown;
  /**
   * Where the node an issue path names starts (`steps[1].parallel[0]["my-key"]`, or dotted as
   * `agents.my-agent.rateLimit.max`), or its nearest existing parent for a missing key.
   */
  locate(issuePath: string): Position | undefined;
  /** `issues` found in the value, located: each message starts `<source>:<line>:<col>: <path>: `. */
  located(issues: readonly Issue[]): Issue[];
}

/** Parse `text`; malformed YAML or an empty file is a ConfigError naming `source` (with `:line:col` when known). */
export function readYaml(text: string, source: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const [error] = doc.errors;
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? `:${at.line}:${at.col}` : '';
    const message = `${source}${where}: malformed YAML: ${error.message.trimEnd()}`;
    throw new ConfigError(message, [{ path: source, message, ...(at ? { line: at.line, col: at.col } : {}) }]);
  }
  // toJS keeps yaml's alias-expansion limit, which guards against "billion laughs" documents.
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) {
    const message = `${source}: file is empty`;
    throw new ConfigError(message, [{ path: source, message }]);
  }
  const locate = (issuePath: string): Position | undefined => {
    const start = nodeAt(doc, issuePath)?.range?.[0];
    return start === undefined ? undefined : lines.linePos(start);
  };
  const located = (issues: readonly Issue[]): Issue[] =>
    issues.map((i) => {
      const at = locate(i.path);
      const message = `${source}${at ? `:${at.line}:${at.col}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
      return { path: i.path, message, ...at };
    });
  return { value, locate, located };
}

interface Ranged {
  range?: [number, number, number] | null;
}

/**
 * Walk `path` down the document as far as it goes. A map's key is matched against the text of
 * the path (the longest key that fits wins), so keys holding `-` or `.` are found in a dotted
 * path too; `[n]` and `.n` index a sequence, `["..."]` is a quoted key.
 */
function nodeAt(doc: Document, path: string): Ranged | undefined {
  let node: unknown = doc.contents;
  let rest = path;
  for (;;) {
    rest = rest.replace(/^\./, '');
    if (rest === '') break;
    const next = step(node, rest);
    if (!next) break;
    node = next.node;
    rest = rest.slice(next.consumed);
  }
  return node as Ranged | undefined;
}

function step(node: unknown, rest: string): { node: unknown; consumed: number } | undefined {
  const index = /^\[(\d+)\]/.exec(rest) ?? (isSeq(node) ? /^(\d+)(?=$|[.[])/.exec(rest) : null);
  if (index) {
    const item = isSeq(node) ? node.items[Number(index[1])] : undefined;
    return item === undefined ? undefined : { node: item, consumed: index[0].length };
  }
  if (!isMap(node)) return undefined;
  const quoted = /^\["((?:[^"\\]|\\.)*)"\]/.exec(rest);
  const fits = (key: string) => (quoted ? JSON.parse(`"${quoted[1]}"`) === key : rest === key || rest.startsWith(`${key}.`) || rest.startsWith(`${key}[`));
  let best: { node: unknown; consumed: number } | undefined;
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key === undefined || !fits(key)) continue;
    const consumed = quoted ? quoted[0].length : key.length;
    if (!best || consumed > best.consumed) best = { node: pair.value ?? pair.key, consumed };
  }
  return best;
}
