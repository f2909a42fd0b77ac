/** The echo vendor: offline and deterministic (demos, tests, agents whose provider has no key). */
import type { Vendor } from '../vendor.js';
import { EchoProvider } from './adapter.js';

export const echo: Vendor = {
  create: (target) => new EchoProvider({ latencyMs: target.echo.latencyMs }),
};
