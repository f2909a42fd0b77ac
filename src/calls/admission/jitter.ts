/** `ms` and up to 20% more, so the calls that waited together do not all come back at once (never sooner than asked). */
export const jittered = (ms: number): number => Math.max(1, Math.round(ms * (1 + Math.random() * 0.2)));
