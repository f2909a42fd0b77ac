import type { Command } from 'commander';
import type { CliError } from './exit.js';
import type { Io } from './program.js';

export function addRemoteCommands(_program: Command, _io: Io, _done: (code: number) => void): void {}
export function remoteFailure(_err: unknown): CliError | undefined {
  return undefined;
}
