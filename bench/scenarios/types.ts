/** What bench/run.ts hands a scenario and gets back. */
export interface BenchContext {
  quick: boolean;
  /** Measured repetitions. */
  reps: number;
  /** Unmeasured rounds of each side before them. */
  warmup: number;
  /** Force the profiling passes (CPU profile) even when the target is met. */
  profile: boolean;
  log(msg: string): void;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** Switchyard's figure, formatted. */
  switchyard: string;
  /** The baseline's figure, formatted. */
  baseline: string;
  /** Switchyard ÷ baseline, submission included (what the target is judged on). */
  ratio: number;
  /** The ratio column's text when one number does not say it (e.g. `p50 / p99` ratios). */
  ratioText?: string;
  /** The same ratio timed from the end of submission, where the scenario measures it. */
  ratioAfterSubmit?: number;
  /**
   * Against the floor of a durable step (raw BullMQ + the same awaited writes, lib/durable.ts),
   * where the scenario measures it: the target is then judged on this ratio.
   */
  floor?: { baseline: string; ratio: number; ratioText?: string };
  target: string;
  pass: boolean;
  /** Extra lines: sizes, raw numbers of each repetition, profile findings. */
  details: string[];
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}
