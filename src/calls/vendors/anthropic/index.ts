/** The Anthropic vendor: the Messages API over @anthropic-ai/sdk. */
import { ConfigError } from '../../../errors/index.js';
import type { Vendor } from '../vendor.js';
import { AnthropicProvider } from './adapter.js';
import { anthropicErrors } from './errors.js';

export const anthropic: Vendor = {
  create(target) {
    // The registry falls back to echo when there is no key, so reaching here without one is a bug.
    if (!target.apiKey) throw new ConfigError(`agent "${target.name}": anthropic provider needs an API key`);
    return new AnthropicProvider({ apiKey: target.apiKey, baseURL: target.baseURL });
  },
  errors: anthropicErrors,
  remote: { keyEnv: 'ANTHROPIC_API_KEY' },
};
