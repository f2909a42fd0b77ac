import { expect } from 'vitest';

/** Run `fn`, expect it to throw an instance of `type`, and return the error for more checks. */
export function thrownBy<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}
