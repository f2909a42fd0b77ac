/**
 * Where outbound HTTP calls (HTTP tools, the `http` step, webhooks) may go: in production only
 * to the hosts of SWITCHYARD_EGRESS_ALLOW (src/net/egress.ts). Part of the environment schema
 * (env.ts spreads it in).
 */
import { z } from 'zod';

/** One entry of the allow list: a host name (`api.example.com`), an IP, or `*.domain`. */
const hostRule = z
  .string()
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9.:-]*[a-z0-9])?$/, 'must be a host name, an IP address or *.domain, e.g. api.example.com,*.internal.example');

const EgressEnvSchema = z.object({
  /**
   * The hosts outbound calls may reach when NODE_ENV=production, comma-separated: exact host
   * names or IPs, or `*.domain` (any name under the domain, not the domain itself). Empty: none.
   * Outside production any host may be called. Link-local and cloud metadata addresses never.
   */
  SWITCHYARD_EGRESS_ALLOW: z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim().toLowerCase().replace(/\.$/, ''))
            .filter(Boolean)
        : (v ?? []),
    z.array(hostRule),
  ),
});

/** The egress variables, for the environment schema. */
export const EGRESS_ENV = EgressEnvSchema.shape;

/** Where outbound calls may go (see src/net/egress.ts). */
export interface EgressConfig {
  /** NODE_ENV=production: only the hosts of `allow`. */
  production: boolean;
  /** SWITCHYARD_EGRESS_ALLOW, lowercased: `host` or `*.domain`. */
  allow: string[];
}

export function egressConfigOf(e: z.infer<typeof EgressEnvSchema> & { NODE_ENV?: string | undefined }): EgressConfig {
  return { production: e.NODE_ENV === 'production', allow: e.SWITCHYARD_EGRESS_ALLOW };
}
