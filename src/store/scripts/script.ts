/**
 * Loading of the Lua scripts: the one place they are read, their includes resolved
 * (`--@include <name>` inlines lua/includes/<name>.lua once; see luaSource) and the constants they share with
 * the TypeScript code prepended, generated from the same definitions (statuses, record fields).
 * The state scripts live in lua/ here; a script kept beside the code it serves (the limiter's,
 * src/calls/admission/lua/) names its folder, and shares the includes here.
 * A Script is sent by its SHA (EVALSHA), and again with its full text when Redis does not hold
 * it (NOSCRIPT: the first call after Redis started, or flushed its scripts). It is also defined
 * on each connection it runs on, once, so that the connection knows it by name.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';
import { COMPACT_MAX_STEPS } from '../keys.js';
import {
  FAST_START_DEPS,
  FAST_START_FROM,
  GATE_WAITING_REASON,
  LOST_STEP_ERROR,
  RunRecord,
  StepRecord,
  TERMINAL_RUN_STATUSES,
  TERMINAL_STEP_STATUSES,
} from '../../model/run.js';

/** The fields of a step hash and of a run hash that make up their records. */
export const STEP_FIELDS = StepRecord.keyof().options;
export const RUN_FIELDS = RunRecord.keyof().options;

const luaList = (items: readonly string[]) => `{ ${items.map((f) => `'${f}'`).join(', ')} }`;
const luaSet = (names: readonly string[]) => `{ ${[...new Set(names)].map((n) => `['${n}'] = true`).join(', ')} }`;

/**
 * A Lua function that writes a record in its compact JSON form, as a finished run's compact hash
 * keeps it (compacted.ts reads it): the fields' JSON texts as they are, in the order of `fields`,
 * a field missing or null left out (a reader takes it as null): `function(m, open, close)`, `m` its fields' texts by name. `lead`, a field every record has,
 * comes first; `leaveOut` are never written. `open` and `close` ('{' and '}' unless given) go
 * around it: `close` may add fields (`,"name":value}`). One concatenation, of texts that are
 * constants or the values themselves: no list of pieces, no text made per field.
 */
function compactDocLua(fields: readonly string[], lead: string, leaveOut: readonly string[]): string {
  const rest = fields.filter((f) => f !== lead && !leaveOut.includes(f));
  const read = rest.map((f, i) => `  local v${i} = m['${f}']\n  if v${i} == 'null' then v${i} = nil end\n`).join('');
  const write = rest.map((f, i) => `(v${i} and ',"${f}":' or '') .. (v${i} or '')`).join(' ..\n    ');
  return `function(m, open, close)\n${read}  return (open or '{') .. '"${lead}":' .. m['${lead}'] ..\n    ${write} ..\n    (close or '}')\nend`;
}

/** Constants a script may use, generated from the TypeScript definitions (only those it names are sent). */
const CONSTANTS: Record<string, string> = {
  TERMINAL: luaSet([...TERMINAL_STEP_STATUSES, ...TERMINAL_RUN_STATUSES]),
  STEP_FIELDS: luaList(STEP_FIELDS),
  RUN_FIELDS: luaList(RUN_FIELDS),
  // A compacted run's records (see compacted.ts): its steps' without their run id, its own
  // without its output (its output steps' outputs; the caller adds one it was given).
  COMPACT_STEP_DOC: compactDocLua(STEP_FIELDS, 'stepId', ['runId']),
  COMPACT_RUN_DOC: compactDocLua(RUN_FIELDS, 'id', ['output']),
  LOST_ERROR: JSON.stringify(LOST_STEP_ERROR),
  COMPACT_MAX_STEPS: String(COMPACT_MAX_STEPS),
  GATE_REASON: JSON.stringify(GATE_WAITING_REASON),
  // The fast path's start rule (model/run.ts): step statuses by name, a dependency's by its JSON text as read.
  FAST_FROM: luaSet(FAST_START_FROM),
  FAST_DEP: luaSet(FAST_START_DEPS.any.map((s) => JSON.stringify(s))),
  FAST_DEP_OPTIONAL: luaSet(FAST_START_DEPS.optional.map((s) => JSON.stringify(s))),
};

/** The state scripts' folder, whose includes/ every script shares. */
const STATE_LUA = new URL('./lua/', import.meta.url);

const readLua = (dir: URL, path: string): string => readFileSync(new URL(`${path}.lua`, dir), 'utf8');

/** The constants `text` names outside its comments (a `--` comment runs to the line's end; no script has `--` in a string). */
const constantsNamed = (text: string): string[] => {
  const code = text.replace(/--.*$/gm, '');
  return Object.keys(CONSTANTS).filter((constant) => new RegExp(`\\b${constant}\\b`).test(code));
};
const constantsLua = (names: readonly string[]) => names.map((constant) => `local ${constant} = ${CONSTANTS[constant]}\n`).join('');

/**
 * A script's full source: the constants it names, then its text with its includes
 * (lua/includes/<name>.lua, each inlined once, its own includes first). Redis runs the whole
 * text on every call, so a script carries only what it uses.
 * An include inside a block (the line indented: `  --@include a b`) is that block's: the
 * functions it defines are made only when a call runs the block (Redis makes every function a
 * script defines anew on each call, when its definition is reached), so a path few calls take
 * keeps its functions to itself. It is inlined there with what it needs that the script's top
 * level has not inlined before it (its names together, each once), and nothing after the block
 * counts it as inlined. So are the constants: one that only a block's includes name is made at
 * the block's start (a list of the record's fields is a table made on every call that defines
 * it). `read` (by default the files here) gives an include's or a script's text.
 */
export function luaSource(name: string, dir: URL = STATE_LUA, read: (dir: URL, path: string) => string = readLua): string {
  // A block's includes, kept aside: its place holds `\0<index>\0` until the constants are known.
  const blocks: string[] = [];
  const expand = (text: string, seen: Set<string>): string =>
    text.replace(/^([ \t]*)--@include[ \t]+(\S+(?:[ \t]+\S+)*)\s*$/gm, (_line, indent: string, names: string) => {
      const scope = indent ? new Set(seen) : seen;
      let out = '';
      for (const include of names.split(/[ \t]+/)) {
        if (scope.has(include)) continue;
        scope.add(include);
        out += expand(read(STATE_LUA, `includes/${include}`), scope);
      }
      if (!indent) return out;
      blocks.push(out);
      return `\0${blocks.length - 1}\0`;
    });
  // Each block made with the constants it names that are not made before it.
  const fill = (text: string, made: ReadonlySet<string>): string =>
    text.replace(/\0(\d+)\0/g, (_hole, at: string) => {
      const block = blocks[Number(at)]!;
      const own = constantsNamed(block).filter((constant) => !made.has(constant));
      return constantsLua(own) + fill(block, new Set([...made, ...own]));
    });
  const body = expand(read(dir, name), new Set());
  const top = constantsNamed(body);
  return constantsLua(top) + fill(body, new Set(top));
}

export class Script {
  private lua: string | undefined;
  private hash: string | undefined;

  constructor(
    /** File name in `dir`, without `.lua`. */
    readonly name: string,
    /** How many keys it takes; `any`: as many as each call gives (the count is sent first). */
    readonly numberOfKeys: number | 'any',
    /** The folder of its file (a URL ending in `/`). @default the state scripts' lua/ */
    readonly dir: URL = STATE_LUA,
  ) {}

  /** Its full source (luaSource), read once. */
  get source(): string {
    return (this.lua ??= luaSource(this.name, this.dir));
  }

  /** The SHA Redis knows it by. */
  get sha(): string {
    return (this.hash ??= createHash('sha1').update(this.source).digest('hex'));
  }

  /** Run with exactly `numberOfKeys` keys (any number for `any`); returns the raw reply for the wrapper to decode. */
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (this.numberOfKeys !== 'any' && keys.length !== this.numberOfKeys)
      throw new Error(`script ${this.name} takes ${this.numberOfKeys} keys, got ${keys.length}`);
    return this.send(redis, keys, args);
  }

  /**
   * EVALSHA as one command built here: its arguments copied once into one array of strings
   * (not spread through ioredis' command function, its script wrapper and its fallback promise:
   * a create-run sends about 60), then EVAL with the text when Redis does not hold it.
   */
  private async send(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const argv: string[] = new Array<string>(2 + keys.length + args.length);
    argv[0] = this.sha;
    argv[1] = String(keys.length);
    for (let i = 0; i < keys.length; i++) argv[2 + i] = keys[i]!;
    for (let i = 0, at = 2 + keys.length; i < args.length; i++) {
      const arg = args[i];
      // As ioredis converts an argument: a string as it is, a number as its text (nothing else is given).
      argv[at + i] = typeof arg === 'string' ? arg : String(arg);
    }
    try {
      return await redis.sendCommand(scriptCommand('evalsha', argv));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // A copy: the first command keeps the arguments it was sent with.
      return await redis.sendCommand(scriptCommand('eval', [this.source, ...argv.slice(1)]));
    }
  }
}

/**
 * A command of `argv` as given (strings only, no arrays among them). Its arguments are set
 * once it is made: ioredis' constructor flattens the array it is given (`args.flat()`, about
 * 5 µs for a create-run's 75 arguments, more than encoding them) and converts each one that is
 * not a string, neither of which a script's arguments need.
 */
function scriptCommand(name: 'evalsha' | 'eval', argv: string[]): Command {
  const command = new Command(name, [], { replyEncoding: 'utf8' });
  command.args = argv;
  return command;
}

/** A JSON value as a hash field holds it. */
export const json = (v: unknown): string => JSON.stringify(v ?? null);
/** A hash field's JSON text back (missing → null). */
export const parseJson = <T>(v: string | null | undefined): T => (v == null ? null : JSON.parse(v)) as T;
