import { describe, expect, it } from 'vitest';
import { buildArrayNmt, reversePairs, truncatePad } from './index.js';

describe('reversePairs', () => {
  it('makes seeded letter strings of the asked lengths with reversed targets', () => {
    const pairs = reversePairs({ count: 500, seed: 3 });
    expect(pairs).toHaveLength(500);
    for (const { source, target } of pairs) {
      expect(source).toMatch(/^[a-z]{3,10}$/);
      expect(target).toBe([...source].reverse().join(''));
    }
    const lengths = new Set(pairs.map((p) => p.source.length));
    expect([...lengths].sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(reversePairs({ count: 500, seed: 3 })).toEqual(pairs);
    expect(reversePairs({ count: 500, seed: 4 })).not.toEqual(pairs);
    expect(reversePairs({ count: 50, minLength: 2, maxLength: 2, alphabet: 'xy' }).every((p) => /^[xy]{2}$/.test(p.source))).toBe(true);
  });

  it('rejects impossible settings', () => {
    expect(() => reversePairs({ count: 1, minLength: 5, maxLength: 4 })).toThrow(/minLength <= maxLength/);
    expect(() => reversePairs({ count: -1 })).toThrow(/count/);
    expect(() => reversePairs({ count: 1, alphabet: '' })).toThrow(/alphabet/);
  });
});

describe('truncatePad / buildArrayNmt (d2l)', () => {
  it('pads on either side and truncates', () => {
    expect(truncatePad([1, 2], 4, 0)).toEqual([1, 2, 0, 0]);
    expect(truncatePad([1, 2], 4, 0, 'left')).toEqual([0, 0, 1, 2]);
    expect(truncatePad([1, 2, 3, 4, 5], 3, 0)).toEqual([1, 2, 3]);
  });

  it('appends <eos>, pads and counts valid tokens', () => {
    const out = buildArrayNmt(
      [
        [5, 6],
        [7, 8, 9, 10],
      ],
      4,
      { pad: 1, eos: 3 },
    );
    expect(Array.from(out.array)).toEqual([5, 6, 3, 1, 7, 8, 9, 10]);
    expect(Array.from(out.validLen)).toEqual([3, 4]);
    const left = buildArrayNmt([[5, 6]], 4, { pad: 1, side: 'left' });
    expect(Array.from(left.array)).toEqual([1, 1, 5, 6]);
    expect(Array.from(left.validLen)).toEqual([2]);
    expect(() => buildArrayNmt([[1]], 0, { pad: 0 })).toThrow(/numSteps/);
  });
});
