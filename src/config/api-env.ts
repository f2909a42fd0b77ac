/**
 * The API's settings: who may call it (credentials, JWT) and how often a workspace may
 * (SWITCHYARD_API_RATE_PER_WORKSPACE). Part of the environment schema (env.ts spreads them in).
 */
import { z } from 'zod';
import { bool, emptyToUndefined, optionalString, optionalUrl } from './parse.js';

/** The request rate a workspace gets unless configured: 100 requests per second, bursts of 200. */
export const DEFAULT_API_RATE: ApiRateConfig = { perSecond: 100, burst: 200 };

const ApiEnvSchema = z.object({
  /** `production` makes every route but /healthz and /readyz need a credential (no open development mode). */
  NODE_ENV: optionalString,
  /** Outside production: serve requests without a credential as the default workspace, even once keys exist. */
  SWITCHYARD_DEV_OPEN: bool(false),
  /** Secret that verifies JWT bearer tokens (HS256/384/512). */
  SWITCHYARD_JWT_SECRET: optionalString,
  /** JWKS URL that verifies JWT bearer tokens (RS*, PS*, ES*, EdDSA), instead of a secret. */
  SWITCHYARD_JWT_JWKS_URL: optionalUrl,
  /** The `iss` a token must carry (none: not checked). */
  SWITCHYARD_JWT_ISSUER: optionalString,
  /** The `aud` a token must carry (none: not checked). */
  SWITCHYARD_JWT_AUDIENCE: optionalString,
  /** The claim holding a token's workspace id. */
  SWITCHYARD_JWT_WORKSPACE_CLAIM: z.preprocess(emptyToUndefined, z.string().default('workspace')),
  /** The claim holding a token's scopes (space-separated, or an array). */
  SWITCHYARD_JWT_SCOPES_CLAIM: z.preprocess(emptyToUndefined, z.string().default('scope')),
  /** Requests per second each workspace may make to the API, sustained (a fraction is allowed); 0: no limit. */
  SWITCHYARD_API_RATE_PER_WORKSPACE: z.preprocess(emptyToUndefined, z.coerce.number().min(0).max(1_000_000).default(DEFAULT_API_RATE.perSecond)),
  /** Requests a workspace may make at once above its rate (default: twice the rate, at least 1). */
  SWITCHYARD_API_BURST_PER_WORKSPACE: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(1_000_000).optional()),
});

/** The API's variables, for the environment schema. */
export const API_ENV = ApiEnvSchema.shape;

/** Who may call the API: the mode's inputs and the JWT verifier's settings. */
export interface AuthConfig {
  /** NODE_ENV=production: credentials always required. */
  production: boolean;
  /** SWITCHYARD_DEV_OPEN: the open development mode, forced (ignored in production). */
  devOpen: boolean;
  /** Set when a JWT secret or JWKS URL is configured. */
  jwt?: JwtConfig;
}

/** How JWT bearer tokens are verified (src/auth/jwt.ts). */
export interface JwtConfig {
  /** HMAC secret (HS256, HS384, HS512). */
  secret?: string | undefined;
  /** URL of the identity provider's JSON Web Key Set. */
  jwksUrl?: string | undefined;
  /** Required `iss`, when set. */
  issuer?: string | undefined;
  /** Required `aud`, when set. */
  audience?: string | undefined;
  /** Claim holding the workspace id. @default "workspace" */
  workspaceClaim: string;
  /** Claim holding the scopes (a space-separated string, as OAuth's `scope`, or an array). @default "scope" */
  scopesClaim: string;
}

/** How often each workspace may call the API (see src/api/rate-limit.ts). */
export interface ApiRateConfig {
  /** Requests per second, sustained; 0: no limit. */
  perSecond: number;
  /** Requests at once from rest. */
  burst: number;
}

export interface ApiConfig {
  /** Who may call the API (see src/auth/). */
  auth: AuthConfig;
  /** Each workspace's request rate on the API. */
  apiRate: ApiRateConfig;
}

export function apiConfigOf(e: z.infer<typeof ApiEnvSchema>): ApiConfig {
  const perSecond = e.SWITCHYARD_API_RATE_PER_WORKSPACE;
  return {
    auth: {
      production: e.NODE_ENV === 'production',
      devOpen: e.SWITCHYARD_DEV_OPEN,
      ...(e.SWITCHYARD_JWT_SECRET || e.SWITCHYARD_JWT_JWKS_URL
        ? {
            jwt: {
              secret: e.SWITCHYARD_JWT_SECRET,
              jwksUrl: e.SWITCHYARD_JWT_JWKS_URL,
              issuer: e.SWITCHYARD_JWT_ISSUER,
              audience: e.SWITCHYARD_JWT_AUDIENCE,
              workspaceClaim: e.SWITCHYARD_JWT_WORKSPACE_CLAIM,
              scopesClaim: e.SWITCHYARD_JWT_SCOPES_CLAIM,
            },
          }
        : {}),
    },
    apiRate: { perSecond, burst: e.SWITCHYARD_API_BURST_PER_WORKSPACE ?? Math.max(1, Math.ceil(2 * perSecond)) },
  };
}
