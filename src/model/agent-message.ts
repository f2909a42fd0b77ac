/**
 * Seed 002's AgentMessage: one message of the traffic between the parties of a run (agents,
 * tools, the engine's steps, the run's shared context, a person giving feedback), as
 * GET /v1/runs/:id/messages lists it. Derived from what the run keeps (its steps, their tool
 * calls, its event log): never written on its own.
 */
import { z } from 'zod';

/**
 * request: a delegation, a tool call, a vote's question, a step's task to a child step;
 * response: its answer (or error); notification: a context publish; feedback: a person's rating.
 */
export const AgentMessageType = z.enum(['request', 'response', 'notification', 'feedback']);
export type AgentMessageType = z.infer<typeof AgentMessageType>;

/** What traffic a message is part of. */
export const AgentMessageTopic = z.enum(['delegation', 'tool', 'vote', 'child', 'context', 'feedback']);
export type AgentMessageTopic = z.infer<typeof AgentMessageTopic>;

export const AgentMessage = z
  .object({
    /** `<runId>:<n>`, n its place in the run's messages (from 1). */
    id: z.string(),
    /**
     * Who sent it: an agent's name; `tool:<name>` for a tool; `<kind>:<stepId>` for a step the
     * engine runs itself (a vote, a forEach); `context` never sends; `user` gives feedback.
     */
    fromAgent: z.string(),
    /** Who it is for, named the same way; `context` for a publish to the run's shared context. */
    toAgent: z.string(),
    messageType: AgentMessageType,
    content: z.unknown(),
    metadata: z
      .object({
        topic: AgentMessageTopic,
        runId: z.string(),
        /** The run's workflow (seed 002's workflowId). */
        workflowId: z.string(),
        /** The step that sent it (seed 002's taskId). */
        taskId: z.string(),
        /** The child step a delegation, vote or task became. */
        childStep: z.string().optional(),
        /** The provider's id of a tool call, and the turn that asked for it. */
        callId: z.string().optional(),
        turn: z.number().int().optional(),
        /** A response that is an error (a failed delegate, a tool error). */
        error: z.boolean().optional(),
      })
      .strict(),
    /** When it was sent (ISO). */
    timestamp: z.string(),
  })
  .strict();
export type AgentMessage = z.infer<typeof AgentMessage>;
