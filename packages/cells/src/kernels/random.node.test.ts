import { afterEach, describe, expect, it } from 'vitest';
import { createRng } from '@rnnkit/data';
import { useBackend } from '../../../../test/backends.js';
import { dropoutMaskTensor, dropoutMaskValues, maskKey } from './random.js';
import { activeKernels, useKernels } from './simd.js';
import { setKernelThreads } from './threads.js';
import '../index.node.js';

describe('dropoutMaskValues', () => {
  afterEach(() => {
    useKernels(true);
    setKernelThreads('auto');
  });

  it('gives the same bits on the kernels, in its JS loops and on any thread count', async () => {
    const key = maskKey(createRng(5).next);
    expect(activeKernels()).not.toBeNull();
    const onKernels = dropoutMaskValues(4096, 0.1, key);
    setKernelThreads(3);
    await activeKernels()?.pool?.whenReady();
    expect(dropoutMaskValues(4096, 0.1, key)).toEqual(onKernels);
    useKernels(false);
    expect(dropoutMaskValues(4096, 0.1, key)).toEqual(onKernels);
  });

  it('drops about `rate` of the entries, keeps the rest at 1 / (1 - rate), and a new key gives a new mask', () => {
    const rng = createRng(1);
    for (const rate of [0.1, 0.5]) {
      const mask = dropoutMaskValues(40_000, rate, maskKey(rng.next));
      const zeros = mask.filter((v) => v === 0).length / mask.length;
      expect(Math.abs(zeros - rate)).toBeLessThan(0.01);
      expect(new Set(mask)).toEqual(new Set([0, Math.fround(1 / (1 - rate))]));
      const other = dropoutMaskValues(40_000, rate, maskKey(rng.next));
      // Two masks agree where both keep or both drop: (1 - rate)^2 + rate^2 of the entries.
      const same = mask.filter((v, i) => v === other[i]).length / mask.length;
      expect(Math.abs(same - ((1 - rate) ** 2 + rate ** 2))).toBeLessThan(0.01);
    }
  });

  it('takes any length (the JS loops beyond whole lanes) and refuses a rate outside [0, 1)', () => {
    const key = { lo: 7, hi: 9 };
    const odd = dropoutMaskValues(1001, 0.3, key);
    expect(odd).toHaveLength(1001);
    expect(Array.from(odd.subarray(0, 1000))).toEqual(Array.from(dropoutMaskValues(1000, 0.3, key)));
    expect(dropoutMaskValues(16, 0, key)).toEqual(new Float32Array(16).fill(1));
    expect(() => dropoutMaskValues(4, 1, key)).toThrow(/dropout rate must be in \[0, 1\), got 1/);
  });
});

describe('dropoutMaskTensor', () => {
  afterEach(() => {
    useKernels(true);
    setKernelThreads('auto');
  });

  it.each(['cpu', 'wasm'])("is dropoutMaskValues' bits as a tensor on %s: on the kernels, on 3 threads, in the JS loops, of any length", async (backend) => {
    await useBackend(backend);
    const key = maskKey(createRng(3).next);
    const expected = dropoutMaskValues(4 * 6 * 8, 0.25, key);
    const check = (shape: number[], want: Float32Array) => {
      const mask = dropoutMaskTensor(shape, 0.25, key);
      expect(mask.shape).toEqual(shape);
      expect(mask.dtype).toBe('float32');
      expect(mask.dataSync()).toEqual(want);
      mask.dispose();
    };
    expect(activeKernels()).not.toBeNull();
    check([4, 6, 8], expected);
    setKernelThreads(3);
    await activeKernels()?.pool?.whenReady();
    check([4, 6, 8], expected);
    useKernels(false);
    check([4, 6, 8], expected);
    useKernels(true);
    check([3, 7], dropoutMaskValues(21, 0.25, key));
  });
});
