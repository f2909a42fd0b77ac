/**
 * A workspace's own agents (created over the API), as Redis keeps them: one hash per workspace
 * (keys.agents: name → record), the cell's index of them all (keys.agentIndex: which agent
 * queues to serve, how many steps at once) and a channel each change is told on
 * (keys.agentsChannel), so worker processes pick up new and changed agents without a restart: a
 * create or change is one script (agent-put.lua: the record if at the expected version, its
 * index entry, the message).
 * A record's provider key is sealed by the caller (src/agents/keyring.ts): this module never
 * sees a key in clear.
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { Cell, Scope } from './scope.js';
import { agentPut } from './scripts/index.js';
import { whileReachable } from './reachable.js';

/** One workspace agent as stored. */
export interface AgentRecord {
  name: string;
  /** The agent's spec as it was given (checked by the agents file's schema), without its key. */
  spec: Record<string, unknown>;
  /** Its provider key, sealed (never in clear). */
  sealedKey?: string;
  /** 1 when created; each change adds one (a worker resolves a step's agent at this version). */
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** An entry of the cell's index of workspace agents. */
export interface AgentIndexEntry {
  workspace: string;
  name: string;
  version: number;
  concurrency: number;
}

const indexField = (s: Scope, name: string) => `${s.workspace}/${name}`;

export class AgentRecords {
  /**
   * `failFast`: on the API's connection, a command without a reply from Redis is an
   * UnavailableError (503) at once; the engine's waits an outage out.
   */
  constructor(
    private readonly redis: Redis,
    private readonly failFast = false,
  ) {}

  private reach<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.failFast ? whileReachable(this.redis, what, fn) : fn();
  }

  async get(scope: Scope, name: string): Promise<AgentRecord | undefined> {
    const text = await this.reach('reading the agent', () => this.redis.hget(keys.agents(scope), name));
    return text ? (JSON.parse(text) as AgentRecord) : undefined;
  }

  /** The workspace's agents, by name. */
  async list(scope: Scope): Promise<AgentRecord[]> {
    const all = await this.reach("reading the workspace's agents", () => this.redis.hgetall(keys.agents(scope)));
    return Object.values(all)
      .map((text) => JSON.parse(text) as AgentRecord)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Store a new agent; false (nothing written) when the workspace has one of that name. */
  create(scope: Scope, record: AgentRecord, concurrency: number): Promise<boolean> {
    return this.put(scope, record, 0, concurrency);
  }

  /**
   * Replace an agent with `record` if it is still at `record.version - 1` (a change made
   * meanwhile wins: false, nothing written).
   */
  replace(scope: Scope, record: AgentRecord, concurrency: number): Promise<boolean> {
    return this.put(scope, record, record.version - 1, concurrency);
  }

  private put(scope: Scope, record: AgentRecord, expectedVersion: number, concurrency: number): Promise<boolean> {
    return this.reach('writing the agent', () =>
      agentPut(this.redis, {
        scope,
        name: record.name,
        expectedVersion,
        record: JSON.stringify(record),
        indexField: indexField(scope, record.name),
        indexEntry: JSON.stringify({ version: record.version, concurrency }),
      }),
    );
  }

  /** Delete an agent; false when there was none. */
  async remove(scope: Scope, name: string): Promise<boolean> {
    const replies = await this.reach('deleting the agent', () =>
      this.redis
        .multi()
        .hdel(keys.agents(scope), name)
        .hdel(keys.agentIndex(scope), indexField(scope, name))
        .publish(keys.agentsChannel(scope), indexField(scope, name))
        .exec(),
    );
    return replies?.[0]?.[1] === 1;
  }

  /** Every workspace agent of the cell (the index). */
  async index(cell: Cell): Promise<AgentIndexEntry[]> {
    const all = await this.reach('reading the agent index', () => this.redis.hgetall(keys.agentIndex(cell)));
    return Object.entries(all).map(([field, text]) => {
      const [workspace = '', name = ''] = field.split('/');
      return { workspace, name, ...(JSON.parse(text) as { version: number; concurrency: number }) };
    });
  }
}
