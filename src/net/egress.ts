/**
 * Whether an outbound call may go to a URL, decided before connecting. In any mode: only
 * http and https, and never a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
 * metadata.google.internal), neither by name nor by what the name resolves to: that is where a
 * cloud's instance credentials are served. In production (NODE_ENV=production) also only the
 * hosts of SWITCHYARD_EGRESS_ALLOW.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { EgressConfig } from '../config/egress-env.js';
import { NonRetryableError } from '../errors/index.js';

/** A call egress does not allow; the message names the host and the rule. Trying again cannot help. */
export class EgressRefusedError extends NonRetryableError {
  constructor(
    readonly host: string,
    readonly rule: string,
  ) {
    super(`egress refused: ${rule}`);
  }
}

/** Resolves a host name to all its addresses (dns.lookup's `all`), swappable in tests. */
export type HostLookup = (host: string) => Promise<string[]>;

export const systemLookup: HostLookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Host names that serve instance metadata (and credentials) on the clouds. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

/** The host of a URL as it is compared: lowercase, without IPv6 brackets or a trailing dot. */
export function hostOf(url: URL): string {
  return url.hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** 169.254.0.0/16, fe80::/10, and those written as IPv4-mapped IPv6. */
export function isLinkLocal(address: string): boolean {
  const a = address.toLowerCase().replace(/%.*$/, '');
  if (isIP(a) === 4) return a.startsWith('169.254.');
  if (isIP(a) !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return isLinkLocal(mapped[1]!);
  const hex = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(a);
  if (hex) return parseInt(hex[1]!, 16) >> 8 === 169 && (parseInt(hex[1]!, 16) & 0xff) === 254;
  const first = parseInt(a.split(':')[0] || '0', 16);
  return (first & 0xffc0) === 0xfe80;
}

/** Whether `host` is matched by one of `allow` (exact, or `*.domain` for any name under it). */
export function isAllowed(host: string, allow: readonly string[]): boolean {
  return allow.some((rule) => (rule.startsWith('*.') ? host.endsWith(rule.slice(1)) && host.length > rule.length - 1 : host === rule));
}

/** What the URL itself breaks, without resolving it (undefined: nothing). */
export function ruleBroken(url: URL, egress: EgressConfig): string | undefined {
  const host = hostOf(url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme "${url.protocol.replace(/:$/, '')}" is not http or https`;
  if (METADATA_HOSTS.has(host)) return `host "${host}" is a cloud metadata service`;
  if (isLinkLocal(host)) return `host "${host}" is a link-local address (169.254.0.0/16, fe80::/10)`;
  if (egress.production && !isAllowed(host, egress.allow)) return `host "${host}" is not in SWITCHYARD_EGRESS_ALLOW`;
  return undefined;
}

/**
 * Throws EgressRefusedError unless a call to `url` is allowed: the URL's own rules, then every
 * address its host name resolves to. A name that does not resolve is left to the call (a
 * network error, retried as one).
 */
export async function checkEgress(url: URL, egress: EgressConfig, lookup: HostLookup = systemLookup): Promise<void> {
  const host = hostOf(url);
  const broken = ruleBroken(url, egress);
  if (broken) throw new EgressRefusedError(host, broken);
  if (isIP(host)) return;
  let addresses: string[];
  try {
    addresses = await lookup(host);
  } catch {
    return;
  }
  const bad = addresses.find(isLinkLocal);
  if (bad) throw new EgressRefusedError(host, `host "${host}" resolves to the link-local address ${bad} (169.254.0.0/16, fe80::/10)`);
}
