/** The workflows a process knows: those loaded from flows/ plus inline ones compiled on demand. */
import { ValidationError } from '../errors/index.js';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { compileWorkflow } from './compile.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import type { AgentOrchestration, RequestCaps } from '../kinds/compile-rule.js';
import { checkSchemas, type FoundSchema } from './output-schemas.js';
import type { SchemaValidator } from '../lang/schema-checker.js';

/** The agents an inline definition may name (an AgentRegistry, seen from a workspace). */
export interface CatalogAgents {
  names(): readonly string[];
  get(name: string): AgentOrchestration | undefined;
}

export class WorkflowCatalog {
  constructor(
    private readonly named: Map<string, CompiledWorkflow>,
    private readonly agents: () => readonly string[],
    /** Bounds on inline definitions (default: the configuration's defaults). */
    private readonly bounds?: Bounds,
    /** Each agent's orchestration and delegates in the agents file (an inline step may not ask for more). */
    private readonly agentOf: (agent: string) => AgentOrchestration | undefined = () => undefined,
    /** Compiles an inline definition's output schemas off the event loop (without it: on it). */
    private readonly schemas?: SchemaValidator,
  ) {}

  list(): CompiledWorkflow[] {
    return [...this.named.values()];
  }

  get(name: string): CompiledWorkflow | undefined {
    return this.named.get(name);
  }

  /**
   * A workflow by name, or an inline definition compiled now against `agents` (those its
   * workspace sees: its own, then the shared ones; default the shared ones).
   */
  async resolve(ref: string | Record<string, unknown>, agents?: CatalogAgents): Promise<CompiledWorkflow> {
    if (typeof ref !== 'string') return this.validate(ref, agents);
    const wf = this.named.get(ref);
    if (!wf) {
      const known = [...this.named.keys()].sort().join(', ') || '(none)';
      throw new ValidationError(`unknown workflow "${ref}"; known workflows: ${known}`, [
        { path: 'workflow', message: `unknown workflow "${ref}"; known: ${known}` },
      ]);
    }
    return wf;
  }

  /**
   * Compile an inline definition (one a request brings: its orchestration is capped, see
   * RequestCaps); its output schemas are compiled by the schema thread.
   */
  async validate(def: unknown, agents?: CatalogAgents): Promise<CompiledWorkflow> {
    const { schemas } = this;
    const bounds = this.bounds ?? DEFAULT_BOUNDS;
    const caps: RequestCaps = {
      maxTurns: bounds.maxOrchestratorTurns,
      maxDelegations: bounds.maxDelegations,
      maxDepth: bounds.maxDelegationDepth,
      maxForEachItems: bounds.maxForEachItems,
      maxLoopIterations: bounds.maxLoopIterations,
      agent: agents ? (name) => agents.get(name) : this.agentOf,
    };
    const found: FoundSchema[] = [];
    const wf = compileWorkflow(def, {
      agents: agents ? agents.names() : this.agents(),
      source: 'inline',
      ...(this.bounds ? { bounds: this.bounds } : {}),
      caps,
      schemas: schemas ? (f) => found.push(f) : 'compile',
    });
    if (schemas) await checkSchemas(found, schemas, `workflow "${wf.name}"`);
    return wf;
  }
}
