/**
 * What a vendor folder (vendors/<name>/) gives the pipeline: its adapter (a Provider over the
 * vendor's API), how its SDK's errors read (the vendor's part of classify.ts), and how it is
 * reached. Its rate-limit headers are read inside its adapter (its `capacity`).
 */
import type { ResolvedAgent } from '../../model/agent.js';
import type { VendorErrors } from '../classify.js';
import type { Provider } from '../provider.js';

/** What an adapter is built from: the agent (or one of its fallbacks, over the agent) resolved to this vendor. */
export type VendorTarget = Pick<ResolvedAgent, 'name' | 'apiKey' | 'baseURL' | 'structured' | 'echo'>;

export interface Vendor {
  /** Its adapter for `target` (one per agent and model; it keeps its HTTP client). */
  create(target: VendorTarget): Provider;
  /** How its SDK's errors read; none for a vendor without an SDK. */
  errors?: VendorErrors;
  /**
   * How it is reached over the network: the variable its key is read from by default (an
   * agent's `apiKeyEnv` names another), and whether a base URL alone will do (a self-hosted
   * compatible server needs no key). Absent: it answers offline (echo), with no key.
   */
  remote?: { keyEnv: string; keylessWithBaseUrl?: boolean };
}
