/** What a command of the `switchyard` CLI writes to and reads from, and the options every command takes. */
export interface Io {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}
