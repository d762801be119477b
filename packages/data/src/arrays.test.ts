import { describe, expect, it } from 'vitest';
import { selectRows, timeMajor } from './arrays.js';

describe('selectRows / timeMajor', () => {
  it('picks rows in the given order and keeps the array type', () => {
    const a = Int32Array.from([1, 2, 3, 4, 5, 6]);
    const picked = selectRows(a, [2, 0], 2);
    expect(picked).toBeInstanceOf(Int32Array);
    expect(Array.from(picked)).toEqual([5, 6, 1, 2]);
    expect(Array.from(selectRows(Float32Array.from([0.5, 1.5, 2.5]), [1, 1], 1))).toEqual([1.5, 1.5]);
  });

  it('rearranges row-major windows time-major', () => {
    expect(Array.from(timeMajor(Float32Array.from([1, 2, 3, 4, 5, 6]), 3))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(() => timeMajor(new Float32Array(5), 2)).toThrow(/not a multiple of tau = 2/);
  });
});
