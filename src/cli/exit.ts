/**
 * The CLI's exit codes, and the one error class its commands throw to end with a message and a
 * code. Every failure prints one line on stderr (`switchyard: <what went wrong>`).
 */

export const EXIT = {
  ok: 0,
  /** A run that did not succeed, a refused request, a file that does not validate. */
  failed: 1,
  /** The command line itself is wrong (an unknown command or option, a missing argument, a bad flag value). */
  usage: 2,
  /** The server cannot be reached, or cannot serve now (sysexits EX_UNAVAILABLE). */
  unavailable: 69,
  /** `serve`, `workers`, `dev`: the server's configuration is invalid (sysexits EX_CONFIG), as `npm start` exits. */
  config: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A flag's value that does not parse: exit 2, naming the flag. */
export const usageError = (flag: string, problem: string): CliError => new CliError(`${flag}: ${problem}`, EXIT.usage);

/** `text` parsed as JSON for `flag`, or a usage error quoting the parser. */
export function jsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(flag, `not JSON (${(err as Error).message})`);
  }
}

/** One line: newlines in a message (a server's, a parser's) become spaces. */
export const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim();
