/**
 * Provider factory: the one place an agent's provider implementation is chosen. It caches
 * nothing; callers that want one client per agent keep the returned instance.
 */
import type { ResolvedAgent } from '../model/agent.js';
import { ConfigError } from '../errors/index.js';
import { AnthropicProvider } from './anthropic.js';
import { EchoProvider } from './echo.js';
import { OpenAIProvider } from './openai.js';
import type { Provider } from './provider.js';

export function createProvider(agent: ResolvedAgent): Provider {
  switch (agent.provider) {
    case 'echo':
      return new EchoProvider({ latencyMs: agent.echo.latencyMs });
    case 'anthropic':
      // The registry falls back to echo when there is no key, so reaching here without one is a bug.
      if (!agent.apiKey) throw new ConfigError(`agent "${agent.name}": anthropic provider needs an API key`);
      return new AnthropicProvider({ apiKey: agent.apiKey, baseURL: agent.baseURL });
    case 'openai':
      return new OpenAIProvider({ apiKey: agent.apiKey, baseURL: agent.baseURL, structured: agent.structured });
  }
}
