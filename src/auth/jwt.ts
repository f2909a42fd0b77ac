/**
 * JWT bearer tokens, verified with jose against a shared secret (HS256/384/512) or a JWKS URL
 * (the identity provider's public keys, fetched and cached by jose). The workspace and the
 * scopes are read from configurable claims; a token without a valid workspace claim, or with
 * an unknown scope, is refused.
 */
import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { JwtConfig } from '../config/api-env.js';
import { UnavailableError } from '../errors/index.js';
import { CredentialWorkspace, parseScopes, type Principal } from './principal.js';

/** Why a token was refused (the 401's message; never the token). */
export class TokenRefusal extends Error {}

export class JwtVerifier {
  private readonly key: Uint8Array | ReturnType<typeof createRemoteJWKSet>;
  private readonly options: JWTVerifyOptions;

  constructor(private readonly opts: JwtConfig) {
    if (opts.secret) this.key = new TextEncoder().encode(opts.secret);
    else if (opts.jwksUrl) this.key = createRemoteJWKSet(new URL(opts.jwksUrl));
    else throw new Error('a JWT verifier needs a secret or a JWKS URL');
    this.options = {
      algorithms: opts.secret ? ['HS256', 'HS384', 'HS512'] : ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'],
      ...(opts.issuer ? { issuer: opts.issuer } : {}),
      ...(opts.audience ? { audience: opts.audience } : {}),
    };
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      // Both key kinds satisfy jwtVerify; the union is not one of its overloads.
      payload = (await jwtVerify(token, this.key as Uint8Array, this.options)).payload;
    } catch (err) {
      // The identity provider's keys could not be fetched (a timeout, a network error): not the token's fault (503, retry).
      if (this.opts.jwksUrl && (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)))
        throw new UnavailableError(`the JWKS at ${this.opts.jwksUrl} could not be fetched (${(err as Error).message}); try again shortly`);
      throw new TokenRefusal(refusalOf(err));
    }
    const workspace = CredentialWorkspace.safeParse(payload[this.opts.workspaceClaim]);
    if (!workspace.success) throw new TokenRefusal(`token has no valid "${this.opts.workspaceClaim}" claim (a workspace id)`);
    const raw = payload[this.opts.scopesClaim];
    let scopes;
    try {
      scopes = parseScopes(Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw : '');
    } catch (err) {
      throw new TokenRefusal(`token's "${this.opts.scopesClaim}" claim: ${(err as Error).message}`);
    }
    return { kind: 'jwt', id: typeof payload.sub === 'string' ? payload.sub.slice(0, 200) : 'jwt', workspace: workspace.data, scopes };
  }
}

function refusalOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" is not accepted (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the JWKS matches the token';
  if (err instanceof joseErrors.JOSEError) return `invalid token (${err.code})`;
  return 'invalid token';
}
