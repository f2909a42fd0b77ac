/**
 * Draws a run's progress on a stream. On a terminal, the block of step lines is redrawn in
 * place as steps change and while one runs (elapsed time ticking); anywhere else (a pipe, a
 * log, a test) each change is one new line, so the output reads as a log.
 */
import { RunProgress, formatElapsed, stepLine } from './progress.js';
import type { RunEvent } from '../model/run.js';

export interface Screen {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** How often a terminal's block is redrawn while a step runs, ms. */
const TICK_MS = 250;

export class LiveView {
  readonly progress: RunProgress;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    runId: string,
    private readonly screen: Screen,
    /** Step ids known before any event (a workflow's steps): their lines come in this order and align. */
    known: readonly string[] = [],
  ) {
    this.progress = new RunProgress(runId);
    for (const id of known) this.progress.seed(id);
  }

  private get tty(): boolean {
    return this.screen.isTTY === true;
  }

  private width(): number {
    return Math.max(8, ...this.progress.list().map((s) => s.stepId.length));
  }

  apply(event: RunEvent): void {
    const changed = this.progress.apply(event);
    if (this.tty) {
      if (changed || this.drawn === 0) this.redraw();
      this.tick();
    } else if (changed) {
      // A log line: when it happened in the run, then the step as it became (a running step's time shows once it ends).
      const since = Date.parse(event.at) - (this.progress.startedAt ?? Date.parse(event.at));
      this.screen.write(`${`+${formatElapsed(since)}`.padStart(9)}  ${stepLine(changed, undefined, this.width())}\n`);
    }
  }

  private redraw(): void {
    const lines = this.progress.list().map((s) => `  ${stepLine(s, Date.now(), this.width())}`);
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    this.screen.write(`${up}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`);
    this.drawn = lines.length;
  }

  /** Keep redrawing while a step runs (its elapsed time moves); stop when none does. */
  private tick(): void {
    const running = this.progress.list().some((s) => s.status === 'running');
    if (running && !this.timer) {
      this.timer = setInterval(() => this.redraw(), TICK_MS);
      this.timer.unref();
    } else if (!running && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Stop ticking (the last drawing stays). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.redraw();
  }
}
