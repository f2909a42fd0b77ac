/**
 * The simulator's random draws: one seeded generator (mulberry32) per simulator, so a `--seed`
 * makes a run repeatable: the same requests in the same order get the same latencies, errors
 * and answers.
 */
import type { Distribution } from './config.js';

/** z of the 99th percentile of the standard normal distribution. */
const Z99 = 2.326348;

export class Random {
  private state: number;

  constructor(seed: number = Math.floor(Math.random() * 2 ** 32)) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log(0) is not a number
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A draw of `d`, never below 0. */
  draw(d: Distribution): number {
    switch (d.type) {
      case 'fixed':
        return d.value;
      case 'normal':
        return Math.max(0, d.p50 + ((d.p99 - d.p50) / Z99) * this.normal());
      case 'lognormal':
        return Math.exp(Math.log(d.p50) + ((Math.log(d.p99) - Math.log(d.p50)) / Z99) * this.normal());
    }
  }

  /** A short id of letters and digits. */
  id(length = 12): string {
    let s = '';
    while (s.length < length) s += this.below(36).toString(36);
    return s;
  }
}
