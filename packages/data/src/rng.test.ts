import { describe, expect, it } from 'vitest';
import { createRng } from './rng.js';

describe('createRng', () => {
  it('repeats for the same seed and differs for another', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('draws integers in the closed range and normals with the right moments', () => {
    const rng = createRng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(rng.int(3, 6));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
    const n = 20000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal(1, 0.5);
      sum += z;
      sq += z * z;
    }
    const mean = sum / n;
    expect(mean).toBeCloseTo(1, 1);
    expect(Math.sqrt(sq / n - mean * mean)).toBeCloseTo(0.5, 1);
  });

  it('shuffles into a permutation and resumes from a saved state', () => {
    const rng = createRng('s');
    const perm = rng.shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...perm].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    rng.normal();
    const saved = JSON.parse(JSON.stringify(rng.state()));
    const expected = [rng.normal(), rng.next(), rng.normal()];
    const resumed = createRng('s', saved);
    expect([resumed.normal(), resumed.next(), resumed.normal()]).toEqual(expected);
  });

  it('rejects a bad integer range', () => {
    expect(() => createRng(0).int(5, 2)).toThrow(/min <= max/);
  });
});
