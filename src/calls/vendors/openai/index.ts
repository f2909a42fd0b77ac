/** The OpenAI vendor: Chat Completions over the openai SDK, on OpenAI's API or any compatible server. */
import type { Vendor } from '../vendor.js';
import { OpenAIProvider } from './adapter.js';
import { openaiErrors } from './errors.js';

export const openai: Vendor = {
  create: (target) => new OpenAIProvider({ apiKey: target.apiKey, baseURL: target.baseURL, structured: target.structured }),
  errors: openaiErrors,
  // A self-hosted compatible server (Ollama, vLLM) is reached with its base URL alone.
  remote: { keyEnv: 'OPENAI_API_KEY', keylessWithBaseUrl: true },
};
