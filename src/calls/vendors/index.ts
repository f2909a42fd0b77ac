/**
 * The vendor table: the one place a provider name meets its folder. Adding a provider is a
 * folder here (adapter, errors, rate headers, its `Vendor`), its name in `ProviderName`
 * (src/model/agent.ts) and its line below; the table is a `Record<ProviderName, Vendor>`, so
 * a name without a line (or a line without a name) does not compile. A vendor reached with a
 * key also declares its variables in src/config/env.ts, the only place the environment is read.
 */
import type { ProviderName } from '../../model/agent.js';
import { classify } from '../classify.js';
import type { Provider } from '../provider.js';
import { anthropic } from './anthropic/index.js';
import { echo } from './echo/index.js';
import { openai } from './openai/index.js';
import type { Vendor, VendorTarget } from './vendor.js';

export type { Vendor, VendorTarget } from './vendor.js';

export const VENDORS: Readonly<Record<ProviderName, Vendor>> = { anthropic, openai, echo };

/** The adapter of `provider` for `target`. It caches nothing: callers that want one client per agent keep it. */
export function createProvider(target: VendorTarget & { provider: ProviderName }): Provider {
  return VENDORS[target.provider].create(target);
}

/** `classify` (../classify.ts) with `provider`'s own reading of its SDK's errors. */
export function classifyProviderError(err: unknown, provider: ProviderName, signal?: AbortSignal): Error {
  return classify(err, provider, VENDORS[provider].errors, signal);
}
