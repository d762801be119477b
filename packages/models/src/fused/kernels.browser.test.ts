// Browser only (the chromium project): on a page's main thread the SIMD kernels of @rnnkit/cells
// must be able to come from the asynchronous compile that their first use starts, since browsers
// may refuse to compile the module synchronously there; the fused ops run their JS loops meanwhile.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { Kernels, activeKernels, useKernels } from '@rnnkit/cells';
import { useBackend } from '../../../../test/backends.js';
import { fusedRecurrence } from './recurrence.js';

const [T, B, H] = [4, 3, 8];

/** A reset-after GRU over fixed inputs (a kind the kernels cover). */
function gruOutput(): number[] {
  const n = (len: number, s: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(s * (i + 1)));
  return tf.tidy(() => {
    const x = tf.tensor3d(n(T * B * 3 * H, 0.37), [T, B, 3 * H]);
    const h0 = tf.tensor2d(n(B * H, 0.11), [B, H]);
    const W = tf.tensor2d(n(H * 3 * H, 0.05), [H, 3 * H]);
    const b = tf.tensor1d(n(3 * H, 0.7));
    return Array.from(fusedRecurrence(x, [h0], W, b, { cell: 'gru' }).outputs.dataSync());
  });
}

const worstDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number))));

describe('the SIMD kernels on a browser main thread', () => {
  it('compile asynchronously (WebAssembly.instantiate) and compute what the JS loops compute', async () => {
    expect(typeof document).toBe('object'); // a page's main thread, not a worker
    await useBackend('wasm');
    useKernels(false);
    const js = gruOutput();
    const kernels = await Kernels.createAsync();
    expect(kernels.inUse).toBe(0);
    const at = kernels.alloc(3 * H);
    expect(at % 4).toBe(0);
    kernels.release(at);
    useKernels(true);
    expect(activeKernels()).not.toBeNull();
    expect(worstDiff(gruOutput(), js)).toBeLessThan(1e-5);
  });

  it('fall back to the async compile when the page refuses the synchronous one: JS loops meanwhile, then the kernels', async () => {
    // Chromium's limit on synchronous main-thread compiles has changed across versions (the module
    // compiles synchronously in Debian's Chromium today); make the refusal certain so the path runs.
    await useBackend('wasm');
    const refuse = vi.spyOn(Kernels, 'create').mockImplementation(() => {
      throw new RangeError('WebAssembly.Module(): Buffer size is too large for synchronous compilation on the main thread');
    });
    const compileAsync = vi.spyOn(Kernels, 'createAsync');
    try {
      useKernels(false);
      useKernels(true); // a fresh start, as on page load
      expect(activeKernels()).toBeNull(); // the sync compile failed and the async one started
      expect(refuse).toHaveBeenCalledTimes(1);
      expect(compileAsync).toHaveBeenCalledTimes(1);
      const js = gruOutput(); // the JS loops meanwhile
      const kernels = await vi.waitFor(
        () => {
          const k = activeKernels();
          if (!k) throw new Error('not compiled yet');
          return k;
        },
        { timeout: 20_000, interval: 10 },
      );
      expect(kernels).toBeInstanceOf(Kernels);
      expect(compileAsync).toHaveBeenCalledTimes(1); // one compile, however often it was asked for
      const inUse = kernels.inUse;
      expect(worstDiff(gruOutput(), js)).toBeLessThan(1e-5);
      expect(kernels.inUse).toBe(inUse); // the forward pass gave its memory back
    } finally {
      refuse.mockRestore();
      compileAsync.mockRestore();
    }
  });
});
