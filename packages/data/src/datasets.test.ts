import { describe, expect, it } from 'vitest';
import { helloToy, noisySine } from './datasets.js';

describe('helloToy', () => {
  it('encodes hello -> ohlol over e, h, l, o', () => {
    const toy = helloToy();
    expect(toy.idxToChar).toEqual(['e', 'h', 'l', 'o']);
    expect([...toy.input]).toEqual([1, 0, 2, 2, 3]);
    expect([...toy.target]).toEqual([3, 1, 2, 3, 2]);
    expect(toy.decode(toy.target)).toBe('ohlol');
  });
});

describe('noisySine', () => {
  it('builds windows of tau past values and the next value, split 600 / rest', () => {
    const s = noisySine({ seed: 3 });
    expect(s.x.length).toBe(1000);
    expect(s.numWindows).toBe(996);
    expect(s.features.length).toBe(996 * 4);
    expect([...s.features.subarray(4 * 10, 4 * 11)]).toEqual([...s.x.subarray(10, 14)]);
    expect(s.labels[10]).toBe(s.x[14]);
    const { train, test } = s.split();
    expect(train.size).toBe(600);
    expect(test.size).toBe(396);
    expect(test.labels[0]).toBe(s.x[604]);
  });

  it('has noise of variance about 0.04 around sin(0.01 t) and is seeded', () => {
    const s = noisySine({ seed: 7 });
    let sq = 0;
    s.x.forEach((v, i) => {
      sq += (v - Math.sin(0.01 * (i + 1))) ** 2;
    });
    expect(sq / 1000).toBeGreaterThan(0.03);
    expect(sq / 1000).toBeLessThan(0.05);
    expect(noisySine({ seed: 7 }).x).toEqual(s.x);
    expect(noisySine({ seed: 8 }).x).not.toEqual(s.x);
  });

  it('rejects bad sizes', () => {
    expect(() => noisySine({ tau: 0 })).toThrow(/tau/);
    expect(() => noisySine({ numTrain: 5000 })).toThrow(/numTrain/);
  });
});
