import { describe, expect, it } from 'vitest';
import { setOwn } from '../../src/model/json.js';

describe('setOwn', () => {
  it('sets a field as an own data property, a __proto__ key included (the prototype stays)', () => {
    const out: Record<string, unknown> = {};
    setOwn(out, 'a', 1);
    setOwn(out, '__proto__', { polluted: true });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['a', '__proto__']);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"a":1,"__proto__":{"polluted":true}}');
  });
});
