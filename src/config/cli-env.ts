/**
 * The `switchyard` CLI's own settings, as a client of a server: where the API is and the
 * credential it sends. Not part of the server's environment (env.ts): the flags `--url` and
 * `--key` win over these variables.
 */
import { z } from 'zod';
import { issuesFromZod, ConfigError } from '../errors/index.js';
import { emptyToUndefined, optionalString } from './parse.js';

/** Where the CLI finds the API unless told: a server started on this machine with the default PORT. */
export const DEFAULT_API_URL = 'http://localhost:3000';

const CliEnvSchema = z.object({
  /** The API's base URL. */
  SWITCHYARD_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).default(DEFAULT_API_URL)),
  /** The credential sent as `Authorization: Bearer <key>` (an API key or a JWT); none in the open development mode. */
  SWITCHYARD_KEY: optionalString,
});

export interface CliEnv {
  url: string;
  key: string | undefined;
}

/** The CLI's variables (default `process.env`); a ConfigError naming a bad one. */
export function loadCliEnv(env: Record<string, string | undefined> = process.env): CliEnv {
  const parsed = CliEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error.issues);
    throw new ConfigError(`invalid environment: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return { url: parsed.data.SWITCHYARD_URL, key: parsed.data.SWITCHYARD_KEY };
}
