import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, type Nested } from '../../../../test/backends.js';
import { installWasmKernels, wasmMatMul } from './backend.js';

// installWasmKernels' BatchMatMul runs on the kernels' SIMD gemm: it must give what the stock wasm
// kernel gave (computed here before the replacement is installed) for every transpose, odd sizes
// (the gemm pads N to whole lanes), batches and broadcast batches, empty products, and reused
// operands (kept in panels while their tensor lives).
type Case = [number[], number[], boolean, boolean];
const CASES: Case[] = [
  [[7, 5], [5, 3], false, false],
  [[5, 7], [5, 3], true, false],
  [[7, 5], [3, 5], false, true],
  [[5, 7], [3, 5], true, true],
  [[32, 512], [512, 512], false, false], // the scratch GRU-512's products, forward
  [[32, 512], [512, 512], false, true], // and backward: dH = dG W^T
  [[32, 512], [32, 512], true, false], // dW = H^T dG
  [[32, 28], [28, 512], false, false], // one-hot X W_x
  [[32, 512], [512, 28], false, false], // the output layer, N = 28 (7 lanes)
  [[1, 9], [9, 6], false, false], // one row, N % 8 == 6
  [[6, 1], [1, 13], false, false], // K = 1
  [[8, 12], [8, 4], true, false], // transposed A with sizes the block transpose takes (M 12, K 8)
  [[2, 5, 7], [2, 3, 5], true, true], // batches
  [[1, 64, 33], [33, 40], false, false], // rank 3 by rank 2
  [[3, 4, 6], [1, 6, 5], false, false], // B's batch of 1 broadcast
  [[1, 4, 6], [3, 5, 6], false, true], // A's batch of 1 broadcast
  [[2, 3, 4, 6], [6, 5], false, false], // rank 4 by rank 2
  [[4, 0], [0, 3], false, false], // K = 0: zeros
  [[0, 4], [4, 3], false, false], // M = 0: empty
];
const K_OF = ([sa, , ta]: Case): number => (ta ? sa.at(-2) : sa.at(-1)) as number;
// Float32 sums of K products in another order: the error grows with K.
const tolerance = (K: number) => ({ rtol: 1e-5, atol: 1e-6 * (K + 1) });

describe('BatchMatMul on the SIMD gemm', () => {
  let inputs: [tf.Tensor, tf.Tensor][] = [];
  let stock: Nested[] = [];

  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    inputs = CASES.map(([sa, sb], i) => [tf.randomNormal(sa, 0, 1, 'float32', i), tf.randomNormal(sb, 0, 1, 'float32', 100 + i)]);
    stock = CASES.map(([, , ta, tb], i) => tf.matMul(inputs[i]![0], inputs[i]![1], ta, tb).arraySync() as Nested);
    installWasmKernels();
    expect(wasmMatMul()).not.toBeNull();
  });
  afterAll(() => tf.dispose(inputs.flat()));

  it('matches the stock kernel: transposes, odd sizes, batches, broadcasting, empty products', () => {
    const before = tf.memory().numTensors;
    CASES.forEach((c, i) => {
      const y = tf.matMul(inputs[i]![0], inputs[i]![1], c[2], c[3]);
      const label = `case ${i}: ${c[0]} x ${c[1]} tA=${c[2]} tB=${c[3]}`;
      if (y.size === 0)
        expect(y.shape, label).toEqual([0, 3]); // the one empty product; shapeOf cannot say [0, 3]
      else expectClose(y, stock[i] as Nested, label, tolerance(K_OF(c)));
      y.dispose();
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps a reused operand packed, gives the same product from it, and lets it go with its tensor', () => {
    const gemm = wasmMatMul()!;
    const a = tf.randomNormal([8, 12], 0, 1, 'float32', 7);
    const w = tf.randomNormal([12, 18], 0, 1, 'float32', 8);
    const wt = tf.randomNormal([18, 12], 0, 1, 'float32', 9);
    const expected = tf.tidy(() => tf.sum(tf.mul(tf.expandDims(a, 2), tf.expandDims(w, 0)), 1)).arraySync() as Nested;
    const expectedT = tf.tidy(() => tf.sum(tf.mul(tf.expandDims(a, 1), tf.expandDims(wt, 0)), 2)).arraySync() as Nested;
    const kept = gemm.keptFloats;
    // N = 18 padded to 20. The first two uses pack into a temporary region, the third keeps the
    // panels, the fourth reads them (a transposed B this small as well).
    const keptAfter = [0, 0, 2 * 12 * 20, 2 * 12 * 20];
    for (let use = 0; use < 4; use++) {
      tf.tidy(() => expectClose(tf.matMul(a, w), expected, `use ${use}`, tolerance(12)));
      tf.tidy(() => expectClose(tf.matMul(a, wt, false, true), expectedT, `transposed use ${use}`, tolerance(12)));
      expect(gemm.keptFloats, `kept after use ${use}`).toBe(kept + (keptAfter[use] as number));
    }
    expect(gemm.keptFloats).toBe(kept + 2 * 12 * 20); // once plain and once transposed
    tf.dispose([w, wt]);
    // A large transposed B (a 256 x 256 weight in an input gradient) is kept from its first use.
    const big = tf.randomNormal([256, 256], 0, 1, 'float32', 11);
    const row = tf.randomNormal([4, 256], 0, 1, 'float32', 12);
    gemm.sweep(tf.backend() as never);
    tf.tidy(() => tf.matMul(row, big, false, true));
    expect(gemm.keptFloats).toBe(kept + 256 * 256);
    // A reshape shares the weight's data: it is another operand, never the weight's panels.
    const wide = tf.randomNormal([4, 512], 0, 1, 'float32', 13);
    const reshaped = tf.reshape(big, [128, 512]);
    const expectedR = tf.tidy(() => tf.sum(tf.mul(tf.expandDims(wide, 1), tf.expandDims(reshaped, 0)), 2)).arraySync() as Nested;
    for (let use = 0; use < 2; use++) tf.tidy(() => expectClose(tf.matMul(wide, reshaped, false, true), expectedR, `reshaped use ${use}`, tolerance(512)));
    tf.dispose([big, row, wide, reshaped]);
    gemm.sweep(tf.backend() as never);
    expect(gemm.keptFloats).toBe(kept);
    // A new tensor with other values cannot hit the old panels, wherever its data lands.
    const w2 = tf.randomNormal([12, 18], 0, 1, 'float32', 10);
    const expected2 = tf.tidy(() => tf.sum(tf.mul(tf.expandDims(a, 2), tf.expandDims(w2, 0)), 1)).arraySync() as Nested;
    for (let use = 0; use < 4; use++) tf.tidy(() => expectClose(tf.matMul(a, w2), expected2, `new operand, use ${use}`, tolerance(12)));
    tf.dispose([a, w2]);
    gemm.sweep(tf.backend() as never);
    expect(gemm.keptFloats).toBe(kept);
  });

  it('broadcasts batch dimensions as NumPy does (neither stock kernel can: float64 loops here)', () => {
    const a = tf.randomNormal([3, 1, 4, 6], 0, 1, 'float32', 11);
    const b = tf.randomNormal([2, 6, 5], 0, 1, 'float32', 12);
    const y = tf.matMul(a, b);
    const [av, bv] = [a.arraySync() as number[][][][], b.arraySync() as number[][][]];
    const expected = av.map((ai) => bv.map((bj) => ai[0]!.map((row) => bj[0]!.map((_, n) => row.reduce((s, x, k) => s + x * bj[k]![n]!, 0)))));
    expectClose(y, expected, 'broadcast [3,1,4,6] x [2,6,5]', tolerance(6));
    tf.dispose([a, b, y]);
  });

  it('gives the gradients of a product through it right', () => {
    const a = tf.tensor2d([
      [0.3, -0.2, 0.5],
      [0.1, 0.7, -0.4],
    ]);
    const b = tf.tensor2d([
      [1.5, -0.5],
      [0.25, 2],
      [-1, 0.5],
    ]);
    const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.matMul(p, q)))([a, b]);
    // d/dA sum(AB) = 1 B^T (row sums of B, per row of A); d/dB = A^T 1 (column sums of A).
    expectClose(
      da!,
      [
        [1, 2.25, -0.5],
        [1, 2.25, -0.5],
      ],
      'dA',
      { rtol: 1e-6 },
    );
    expectClose(
      db!,
      [
        [0.4, 0.4],
        [0.5, 0.5],
        [0.1, 0.1],
      ],
      'dB',
      { rtol: 1e-6 },
    );
    tf.dispose([a, b, da!, db!]);
  });
});
