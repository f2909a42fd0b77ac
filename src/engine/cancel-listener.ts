/**
 * Cancellation from any process: the run's (or some steps') running jobs in this process are
 * aborted. The same connection hears of changed workspace agents.
 */
import type { Redis } from 'ioredis';
import { keys, parseCancelMessage, stepJobId } from '../store/keys.js';
import type { System } from '../system.js';
import { watched } from '../store/connection.js';
import type { ActiveJobs } from './active-jobs.js';

/**
 * Subscribes to the cell's cancel channel on a connection of its own, which it returns (its
 * owner closes it). With `onAgentsChanged`, to the cell's agents channel too (a workspace
 * agent was created, changed or deleted).
 */
export async function listenForCancels(system: System, active: ActiveJobs, onAgentsChanged?: () => void): Promise<Redis> {
  const { logger, cell } = system;
  const subscriber = watched(system.engine.redis.duplicate(), logger);
  await subscriber.subscribe(keys.cancelChannel(cell), ...(onAgentsChanged ? [keys.agentsChannel(cell)] : []));
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === keys.agentsChannel(cell)) return onAgentsChanged?.();
    const { workspace, runId, stepIds } = parseCancelMessage(message);
    const n = stepIds.length
      ? active.cancelRun(
          { workspace },
          runId,
          'step cancelled',
          stepIds.map((s) => stepJobId(runId, s)),
        )
      : active.cancelRun({ workspace }, runId, 'run cancelled');
    if (n > 0)
      logger.info(
        { runId, aborted: n, ...(stepIds.length ? { steps: stepIds } : {}) },
        stepIds.length ? 'aborted cancelled steps' : 'aborted running steps of a cancelled run',
      );
  });
  return subscriber;
}
