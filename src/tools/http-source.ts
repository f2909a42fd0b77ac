/**
 * The maker of a process's HTTP tools (the toolbox's `http` source, src/tools/toolbox.ts): one
 * outbound client with the deployment's egress rules, and the workspaces' secrets.
 */
import type { EgressConfig } from '../config/egress-env.js';
import type { HttpToolSpec } from '../model/tool.js';
import { createOutbound } from '../net/outbound.js';
import { httpTool } from './http-tool.js';
import type { AgentTool, SecretLookup } from './tool.js';

/** Outside production, any host but link-local ones: what a process given no egress settings uses. */
export const DEV_EGRESS: EgressConfig = { production: false, allow: [] };

export function httpToolSource(deps: { egress: EgressConfig | undefined; secrets: SecretLookup }): (name: string, spec: HttpToolSpec) => AgentTool {
  const outbound = createOutbound({ egress: deps.egress ?? DEV_EGRESS });
  return (name, spec) => httpTool(name, spec, { outbound, secrets: deps.secrets });
}
