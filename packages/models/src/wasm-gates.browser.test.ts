// Browser only (the chromium project): a page's main thread refuses to compile the gate module
// synchronously, so the kernels must come from the asynchronous compile that the first use starts.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { fusedRecurrence } from './fused.js';
import { GateKernels, gateKernels, useWasmGates } from './wasm-gates.js';

const [T, B, H] = [4, 3, 8];

function gruOutput(): number[] {
  const n = (len: number, s: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(s * (i + 1)));
  return tf.tidy(() => {
    const x = tf.tensor3d(n(T * B * 3 * H, 0.37), [T, B, 3 * H]);
    const h0 = tf.tensor2d(n(B * H, 0.11), [B, H]);
    const W = tf.tensor2d(n(H * 3 * H, 0.05), [H, 3 * H]);
    const b = tf.tensor1d(n(3 * H, 0.7));
    return Array.from(fusedRecurrence(x, h0, null, W, b, { kind: 'gru' }).dataSync());
  });
}

describe('the WebAssembly gate kernels on a browser main thread', () => {
  it('compile asynchronously (WebAssembly.instantiate) and compute what the JS loops compute', async () => {
    expect(typeof document).toBe('object'); // a page's main thread, not a worker
    await useBackend('wasm');
    useWasmGates(false);
    const js = gruOutput();
    const kernels = await GateKernels.createAsync();
    expect(kernels.inUse).toBe(0);
    const at = kernels.alloc(3 * H);
    expect(at % 4).toBe(0);
    kernels.release(at);
    useWasmGates(true);
    expect(gateKernels()).not.toBeNull();
    const viaKernels = gruOutput();
    expect(Math.max(...viaKernels.map((v, i) => Math.abs(v - (js[i] as number))))).toBeLessThan(1e-5);
  });

  it('fall back to the async compile when the page refuses the synchronous one: JS loops meanwhile, then the kernels', async () => {
    // Chromium refuses synchronous compiles of large modules on the main thread (the limit has
    // varied across versions and browsers); make that refusal certain, so the path under test runs.
    await useBackend('wasm');
    const refuse = vi.spyOn(GateKernels, 'create').mockImplementation(() => {
      throw new RangeError('WebAssembly.Module(): Buffer size is too large for synchronous compilation on the main thread');
    });
    const compileAsync = vi.spyOn(GateKernels, 'createAsync');
    try {
      useWasmGates(false);
      useWasmGates(true); // a fresh start, as on page load
      expect(gateKernels()).toBeNull(); // the sync compile failed and the async one started
      expect(refuse).toHaveBeenCalledTimes(1);
      expect(compileAsync).toHaveBeenCalledTimes(1);
      const js = gruOutput(); // runs on the JS loops meanwhile
      const kernels = await vi.waitFor(
        () => {
          const k = gateKernels();
          if (!k) throw new Error('not compiled yet');
          return k;
        },
        { timeout: 20_000, interval: 10 },
      );
      expect(kernels).toBeInstanceOf(GateKernels);
      expect(compileAsync).toHaveBeenCalledTimes(1); // one compile, however often it was asked for
      const inUse = kernels.inUse;
      const viaKernels = gruOutput();
      expect(kernels.inUse).toBe(inUse); // the forward pass gave its memory back
      expect(Math.max(...viaKernels.map((v, i) => Math.abs(v - (js[i] as number))))).toBeLessThan(1e-5);
    } finally {
      refuse.mockRestore();
      compileAsync.mockRestore();
    }
  });
});
