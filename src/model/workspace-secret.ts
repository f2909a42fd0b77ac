/**
 * A workspace's secrets: values its HTTP tools and MCP servers use as `{{ secrets.NAME }}`,
 * set over the API, sealed at rest, never shown again (only their names and when they were set).
 */
import { z } from 'zod';

/** A secret's name as templates name it (`{{ secrets.SEARCH_KEY }}`). */
export const SecretName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be letters, digits or "_", not starting with a digit, at most 64');

/** The most bytes of one secret's value. */
export const MAX_SECRET_BYTES = 16_384;

/** PUT /v1/workspaces/:id/secrets/:name: the value to keep. */
export const SecretSet = z
  .object({
    value: z
      .string()
      .min(1, 'must not be empty')
      .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`),
  })
  .strict();
export type SecretSet = z.infer<typeof SecretSet>;

/** A secret as it is shown: its name and when it was last set, never its value. */
export const SecretEntry = z.object({ name: SecretName, updatedAt: z.string() }).strict();
export type SecretEntry = z.infer<typeof SecretEntry>;

export const SecretList = z.object({ secrets: z.array(SecretEntry) }).strict();
export type SecretList = z.infer<typeof SecretList>;
