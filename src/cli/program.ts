/**
 * The `switchyard` command line (commander): the commands that talk to a server through the
 * typed client (run, runs, schedules: remote-commands.ts), those that work on this machine
 * (validate, keys), and those that start a server (serve, workers, dev). Each action returns its
 * exit code; every failure is one line on stderr (exit.ts).
 */
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config/env.js';
import { StartupError, ValidationError } from '../errors/index.js';
import { CliError, EXIT, oneLine } from './exit.js';
import type { GlobalOptions, Io } from './io.js';
import { addRemoteCommands } from './remote-commands.js';

// The commands that work on this machine load what they need when they run: a command that
// talks to a server starts without loading the server (express, BullMQ, the compiler, ...).
const startProcess = async (...args: Parameters<typeof import('../bootstrap.js').startProcess>) => (await import('../bootstrap.js')).startProcess(...args);

/** Build the program; `done(code)` receives each action's exit code. */
export function buildProgram(io: Io, done: (code: number) => void): Command {
  const program = new Command('switchyard')
    .description('Run and follow Switchyard workflows, manage runs and schedules, and start servers.')
    .addOption(new Option('--url <url>', 'the API (default: $SWITCHYARD_URL, else http://localhost:3000)'))
    .addOption(new Option('--key <key>', 'the credential sent as a bearer token (default: $SWITCHYARD_KEY)'))
    .option('--json', 'print JSON for scripts instead of text')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(switchyard --help shows every command)');

  program
    .command('validate')
    .description('check workflow and agents files offline; each problem as file:line:col (exit 1 when any)')
    .argument('<file.yaml...>', 'workflow files, or an agents file (a top-level `agents:` map)')
    .action(async (files: string[]) => {
      const json = program.opts<GlobalOptions>().json === true;
      const { validateFiles, formatReports } = await import('./validate.js');
      const reports = validateFiles(files, loadConfig(io.env), io.env);
      const valid = reports.every((r) => r.valid);
      if (json) io.stdout.write(`${JSON.stringify({ valid, files: reports }, null, 2)}\n`);
      else {
        const { out, err } = formatReports(reports);
        io.stdout.write(out);
        io.stderr.write(err);
      }
      done(valid ? EXIT.ok : EXIT.failed);
    });

  addRemoteCommands(program, io, done);

  program
    .command('keys')
    .description('API keys in Redis (create | list | revoke), as `npm run keys`; reads the server environment')
    .helpOption(false)
    .allowUnknownOption()
    .argument('[args...]', 'create --workspace <id> --scopes <a,b> [--expires 30d] [--name n] | list [--workspace <id>] | revoke <key id>')
    .action(async (args: string[]) => done(await (await import('./keys-command.js')).keysCommand(args, 'switchyard keys')));

  program
    .command('serve')
    .description('start the API only (PORT, REDIS_URL, ...: the server environment)')
    .action(() => startProcess({ api: true, workers: false }));

  program
    .command('workers')
    .description('start worker pools only')
    .option('--agents <a,b>', 'serve these agents only (default: every agent)')
    .action(({ agents }: { agents?: string }) => {
      const names = agents
        ?.split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      return startProcess({ api: false, workers: names && names.length > 0 ? names : true });
    });

  program
    .command('dev')
    .description('API and workers in one process, pretty logs, restarted when the agents file or flows/ change')
    .action(async () => done(await (await import('./dev.js')).dev(io.env)));

  return program;
}

/** Run the CLI on `argv` (after the program name); resolves with the exit code, or undefined when a server was started (it runs on). */
export async function runCli(argv: string[], io: Io): Promise<number | undefined> {
  let code: number | undefined;
  const program = buildProgram(io, (c) => (code = c));
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end with 0; every other complaint of the parser is a usage error (already printed).
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { message, exitCode } = toCliError(err);
    io.stderr.write(`switchyard: ${oneLine(message)}\n`);
    return exitCode;
  }
}

/** What ends a command: its message and exit code. */
function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  // The server's configuration (the environment, the agents file, flows/) is invalid.
  if (err instanceof ValidationError) return new CliError(err.message, EXIT.config);
  if (err instanceof StartupError) return new CliError(err.message, err.exitCode === EXIT.unavailable ? EXIT.unavailable : EXIT.failed);
  return new CliError(err instanceof Error ? err.message : String(err), EXIT.failed);
}
