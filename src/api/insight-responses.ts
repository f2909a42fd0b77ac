/** Answers of the routes that read a run's traffic and what runs teach (GET /v1/runs/:id/messages, GET /v1/insights). */
import { z } from 'zod';
import { AgentMessage } from '../model/agent-message.js';
import { Insights } from '../model/insights.js';

/** GET /v1/runs/:id/messages. */
export const RunMessages = z.object({ runId: z.string(), messages: z.array(AgentMessage) }).strict();
export type RunMessages = z.infer<typeof RunMessages>;

export { Insights };
