/**
 * Egress: where outbound calls may go. Link-local and metadata addresses never (by literal,
 * by name, by what a name resolves to), production only the allowed hosts, refused before any
 * connection is made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { checkEgress, EgressRefusedError, isAllowed, isLinkLocal } from '../../src/net/egress.js';
import { createOutbound } from '../../src/net/outbound.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';

const dev = { production: false, allow: [] };

describe('egress rules', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('knows link-local addresses, v4, v6 and v4 written as v6', () => {
    for (const a of ['169.254.169.254', '169.254.0.1', 'fe80::1', 'FEBF::1', 'fe80::1%eth0', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe'])
      expect(isLinkLocal(a), a).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.1', '169.253.1.1', '::1', 'fec0::1', '2001:db8::1', 'example.com']) expect(isLinkLocal(a), a).toBe(false);
  });

  it('matches exact hosts and *.domain (names under the domain, not the domain itself)', () => {
    const allow = ['api.example.com', '*.internal.example'];
    expect(isAllowed('api.example.com', allow)).toBe(true);
    expect(isAllowed('a.internal.example', allow)).toBe(true);
    expect(isAllowed('a.b.internal.example', allow)).toBe(true);
    expect(isAllowed('internal.example', allow)).toBe(false);
    expect(isAllowed('evilinternal.example', allow)).toBe(false);
    expect(isAllowed('www.example.com', allow)).toBe(false);
  });

  it('refuses the metadata address and its names in any mode, naming the rule', async () => {
    await expect(checkEgress(new URL('http://169.254.169.254/latest/meta-data/'), dev)).rejects.toThrow(
      'egress refused: host "169.254.169.254" is a link-local address (169.254.0.0/16, fe80::/10)',
    );
    await expect(checkEgress(new URL('http://[fe80::1]:8080/'), dev)).rejects.toThrow('host "fe80::1" is a link-local address');
    await expect(checkEgress(new URL('http://[::ffff:169.254.169.254]/'), dev)).rejects.toThrow('link-local');
    // The WHATWG parser turns a decimal host into dotted form: still refused.
    await expect(checkEgress(new URL('http://2852039166/'), dev)).rejects.toThrow('host "169.254.169.254"');
    await expect(checkEgress(new URL('http://Metadata.Google.Internal./computeMetadata/v1/'), dev)).rejects.toThrow(
      'egress refused: host "metadata.google.internal" is a cloud metadata service',
    );
    await expect(checkEgress(new URL('file:///etc/passwd'), dev)).rejects.toThrow('scheme "file" is not http or https');
  });

  it('refuses a name that resolves to a link-local address', async () => {
    const lookup = async (host: string) => (host === 'sneaky.example' ? ['93.184.216.34', '169.254.169.254'] : ['93.184.216.34']);
    const err = await checkEgress(new URL('https://sneaky.example/'), dev, lookup).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect((err as Error).message).toBe('egress refused: host "sneaky.example" resolves to the link-local address 169.254.169.254 (169.254.0.0/16, fe80::/10)');
    await expect(checkEgress(new URL('https://fine.example/'), dev, lookup)).resolves.toBeUndefined();
  });

  it('resolves names for real: localhost is allowed outside production', async () => {
    await expect(checkEgress(new URL('http://localhost:1/'), dev)).resolves.toBeUndefined();
  });

  it('in production allows only SWITCHYARD_EGRESS_ALLOW, read from the environment', async () => {
    const { egress } = loadConfig({ NODE_ENV: 'production', SWITCHYARD_EGRESS_ALLOW: ' API.example.com , *.corp.example ,127.0.0.1' });
    expect(egress).toEqual({ production: true, allow: ['api.example.com', '*.corp.example', '127.0.0.1'] });
    await expect(checkEgress(new URL('https://x.corp.example/'), egress, async () => ['10.1.2.3'])).resolves.toBeUndefined();
    await expect(checkEgress(new URL('https://evil.example/'), egress, async () => ['10.1.2.3'])).rejects.toThrow(
      'egress refused: host "evil.example" is not in SWITCHYARD_EGRESS_ALLOW',
    );
    // An allowed name is still refused when it resolves to the metadata address.
    await expect(checkEgress(new URL('https://api.example.com/'), egress, async () => ['169.254.169.254'])).rejects.toThrow('resolves to the link-local');
    const none = loadConfig({ NODE_ENV: 'production' }).egress;
    await expect(checkEgress(new URL('https://api.example.com/'), none)).rejects.toThrow('is not in SWITCHYARD_EGRESS_ALLOW');
    expect(loadConfig({}).egress).toEqual({ production: false, allow: [] });
  });

  it('rejects a malformed allow entry at start-up, naming the variable', () => {
    expect(() => loadConfig({ SWITCHYARD_EGRESS_ALLOW: 'https://api.example.com/' })).toThrow(/SWITCHYARD_EGRESS_ALLOW/);
  });

  it('refuses before connecting: the server never sees a refused call, nor a redirect to a refused host', async () => {
    const prod = createOutbound({ egress: { production: true, allow: ['localhost'] }, backoffMs: 1 });
    await expect(prod({ url: `${server.url}/x`, method: 'GET' })).rejects.toThrow('egress refused: host "127.0.0.1" is not in SWITCHYARD_EGRESS_ALLOW');
    expect(server.received).toHaveLength(0);

    server.handle((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/iam/' });
      res.end();
    });
    const open = createOutbound({ egress: dev, backoffMs: 1 });
    const err = await open({ url: `${server.url}/redirect`, method: 'GET', attempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect((err as Error).message).toContain('host "169.254.169.254" is a link-local address');
    // Refused is final: not tried again.
    expect(server.received).toHaveLength(1);
  });
});
