/**
 * Expected refusals (a 503 while Redis is away, the event-stream cap) are not bugs, and come in
 * bursts: the first of a kind is logged at warn at once, without a stack; the others of that
 * kind within `intervalMs` are counted, and the count is logged when the interval ends (one
 * line per kind per interval while a burst lasts).
 */
import type { Logger } from '../logger.js';

/** How long refusals of one kind are counted before the count is logged. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

export class RefusalLog {
  private readonly open = new Map<string, { count: number; status: number; message: string }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  note(kind: string, status: number, message: string): void {
    const counting = this.open.get(kind);
    if (counting) {
      counting.count++;
      counting.message = message;
      return;
    }
    this.logger.warn({ refusal: kind, status, message }, 'request refused');
    this.open.set(kind, { count: 0, status, message });
    this.arm(kind);
  }

  private arm(kind: string): void {
    const timer = setTimeout(() => {
      const counted = this.open.get(kind);
      if (!counted || counted.count === 0) {
        this.open.delete(kind);
        return;
      }
      const { count, status, message } = counted;
      this.logger.warn({ refusal: kind, status, count, intervalMs: this.intervalMs, message }, `request refused ${count} more times`);
      counted.count = 0;
      this.arm(kind);
    }, this.intervalMs);
    // A count still to log never keeps a process from exiting.
    timer.unref();
  }
}
