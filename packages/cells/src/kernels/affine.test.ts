import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useBackend, type Nested } from '../../../../test/backends.js';
import { affine } from '../ops.js';
import { AFFINE_KERNEL, composeAffineWeightGrads } from './affine.js';
import { wasmMatMul } from './backend.js';
import { watchOpPaths } from './paths.js';

// The scratch cells' X W_x + H W_h + b as one kernel on wasm (one gemm over [X H 1] and the
// stack [W_x; W_h; b]) must give the value and the five gradients of the ops it stands for.
const composed = (X: tf.Tensor2D, Wx: tf.Tensor2D, H: tf.Tensor2D, Wh: tf.Tensor2D, b: tf.Tensor) =>
  tf.add(tf.add(tf.matMul(X, Wx), tf.matMul(H, Wh)), b) as tf.Tensor2D;
// A loss that weighs every output differently, so that each gradient entry is distinct.
const weighted = (y: tf.Tensor2D, w: tf.Tensor2D) => tf.sum(tf.mul(y, w)) as tf.Scalar;

describe('affine on wasm', () => {
  // [batch, Kx, Kh, N]: d2l's GRU-512 sizes, and odd ones (N not a multiple of 4, one row, Kx 1).
  const SIZES: [number, number, number, number][] = [
    [32, 28, 512, 512],
    [5, 7, 9, 13],
    [1, 1, 3, 4],
  ];
  let operands: tf.Tensor[][] = [];
  let expected: { value: Nested; grads: Nested[] }[] = [];

  beforeAll(async () => {
    // The reference: TensorFlow.js's matmuls and adds on cpu.
    await useBackend('cpu');
    operands = SIZES.map(([B, Kx, Kh, N], i) => [
      tf.randomNormal([B, Kx], 0, 1, 'float32', 10 * i),
      tf.randomNormal([Kx, N], 0, 0.1, 'float32', 10 * i + 1),
      tf.randomNormal([B, Kh], 0, 1, 'float32', 10 * i + 2),
      tf.randomNormal([Kh, N], 0, 0.1, 'float32', 10 * i + 3),
      tf.randomNormal([N], 0, 1, 'float32', 10 * i + 4),
      tf.randomNormal([B, N], 0, 1, 'float32', 10 * i + 5),
    ]);
    expected = operands.map(([X, Wx, H, Wh, b, w]) => {
      const f = (...a: tf.Tensor[]) => weighted(composed(...(a as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor])), w as tf.Tensor2D);
      const grads = tf.grads(f)([X!, Wx!, H!, Wh!, b!]);
      const value = tf.tidy(() => composed(X as tf.Tensor2D, Wx as tf.Tensor2D, H as tf.Tensor2D, Wh as tf.Tensor2D, b!).arraySync() as Nested);
      const result = { value, grads: grads.map((g) => g.arraySync() as Nested) };
      tf.dispose(grads);
      return result;
    });
    // Move the operands to wasm.
    const values = operands.map((ts) => ts.map((t) => ({ v: t.dataSync().slice(), shape: t.shape })));
    tf.dispose(operands.flat());
    await useBackend('wasm');
    operands = values.map((ts) => ts.map(({ v, shape }) => tf.tensor(v, shape)));
    expect(tf.getKernel(AFFINE_KERNEL, 'wasm')).toBeTruthy();
    expect(wasmMatMul()).not.toBeNull();
  });
  afterAll(() => tf.dispose(operands.flat()));

  it('runs as one kernel on the gemm and matches the composed ops and their gradients', () => {
    SIZES.forEach((size, i) => {
      const [X, Wx, H, Wh, b, w] = operands[i] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
      const K = size[1] + size[2] + 1;
      const tolerance = { rtol: 1e-5, atol: 1e-6 * K };
      const before = tf.memory().numTensors;
      const { result, paths } = watchOpPaths(() => {
        const y = affine(X, Wx, H, Wh, b);
        const grads = tf.grads((...a: tf.Tensor[]) => weighted(affine(...(a as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor])), w))([
          X,
          Wx,
          H,
          Wh,
          b,
        ]);
        return { y, grads };
      });
      expect(paths, `sizes ${size}`).toEqual([{ op: 'affine', kernels: true }]);
      expectClose(result.y, (expected[i] as { value: Nested }).value, `value ${size}`, tolerance);
      ['dX', 'dW_x', 'dH', 'dW_h', 'db'].forEach((name, g) => {
        expectClose(result.grads[g] as tf.Tensor, (expected[i] as { grads: Nested[] }).grads[g] as Nested, `${name} ${size}`, tolerance);
      });
      tf.dispose([result.y, ...result.grads]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('gives the weight gradients the bits of the two transposed products and the column sums it replaces', () => {
    SIZES.forEach((size, i) => {
      const [X, Wx, H, Wh, b, w] = operands[i] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
      const before = tf.memory().numTensors;
      // With loss sum(y * w), the output's gradient G is w.
      const [dWx, dWh, db] = tf.grads((...a: tf.Tensor[]) => weighted(affine(X, a[0] as tf.Tensor2D, H, a[1] as tf.Tensor2D, a[2] as tf.Tensor), w))([
        Wx,
        Wh,
        b,
      ]);
      const separate = [tf.matMul(X, w, true, false), tf.matMul(H, w, true, false), tf.sum(w, 0)];
      [dWx, dWh, db].forEach((g, j) => {
        expect(g?.shape, `shape ${j} ${size}`).toEqual(separate[j]?.shape);
        expect(Array.from(g?.dataSync() ?? []), `${['dW_x', 'dW_h', 'db'][j]} ${size}`).toEqual(Array.from(separate[j]?.dataSync() ?? []));
      });
      tf.dispose([dWx, dWh, db, ...separate]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('composes the same weight gradients from the BatchMatMul and Sum kernels where the gemm does not run', () => {
    const [X, , H, , , w] = operands[1] as tf.Tensor2D[];
    const before = tf.memory().numTensors;
    const backend = tf.backend();
    const infos = composeAffineWeightGrads({ inputs: { x: X as tf.Tensor2D, h: H as tf.Tensor2D, g: w as tf.Tensor2D }, backend, attrs: {} });
    const got = infos.map((t) => tf.engine().makeTensorFromTensorInfo(t));
    const separate = [
      tf.matMul(X as tf.Tensor2D, w as tf.Tensor2D, true, false),
      tf.matMul(H as tf.Tensor2D, w as tf.Tensor2D, true, false),
      tf.sum(w as tf.Tensor2D, 0),
    ];
    got.forEach((g, j) => {
      expect(g.shape).toEqual(separate[j]?.shape);
      expect(Array.from(g.dataSync())).toEqual(Array.from(separate[j]?.dataSync() ?? []));
    });
    tf.dispose([...got, ...separate]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('differentiates twice: a taped backward pass takes the weight gradients as ops', () => {
    const [X, Wx, H, Wh, b] = operands[1] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const before = tf.memory().numTensors;
    // d/dWh of sum(dL/dWh) for L = sum(affine^2): a gradient of a gradient through the weights.
    const second = (useKernel: boolean) =>
      tf.grad((wh: tf.Tensor) => {
        const inner = tf.grad((w: tf.Tensor) => {
          const y = useKernel ? affine(X, Wx, H, w as tf.Tensor2D, b) : composed(X, Wx, H, w as tf.Tensor2D, b);
          return tf.sum(tf.square(y));
        })(wh);
        return tf.sum(inner);
      })(Wh);
    const viaKernel = second(true);
    const viaOps = second(false);
    expectClose(viaKernel, viaOps.arraySync() as Nested, 'second-order dW_h', { rtol: 1e-5, atol: 1e-5 });
    tf.dispose([viaKernel, viaOps]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves nothing behind when only the state needs a gradient (frozen weights)', () => {
    const [X, Wx, H, Wh, b, w] = operands[1] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
    const before = tf.memory().numTensors;
    const [dH] = tf.grads((h: tf.Tensor) => weighted(affine(X, Wx, h as tf.Tensor2D, Wh, b), w))([H]);
    const expectedDH = tf.matMul(w, Wh, false, true);
    expect(Array.from(dH?.dataSync() ?? [])).toEqual(Array.from(expectedDH.dataSync()));
    tf.dispose([dH, expectedDH]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps the stacked weights packed while they live, and never mixes a stack with other tensors', () => {
    const gemm = wasmMatMul()!;
    // Weights of their own: the other tests' stacks are kept already.
    const X = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
    const H = tf.randomNormal([5, 9], 0, 1, 'float32', 2) as tf.Tensor2D;
    const Wx = tf.randomNormal([7, 13], 0, 1, 'float32', 3) as tf.Tensor2D;
    const Wh = tf.randomNormal([9, 13], 0, 1, 'float32', 4) as tf.Tensor2D;
    const b = tf.randomNormal([13], 0, 1, 'float32', 5) as tf.Tensor1D;
    gemm.sweep(tf.backend() as never); // what earlier tests freed
    const kept = gemm.keptFloats;
    const first = affine(X, Wx, H, Wh, b);
    const reference = first.arraySync() as Nested;
    // Kept from the first use, and read since: the same bits.
    expect(gemm.keptFloats).toBe(kept + (7 + 9 + 1) * 16); // N = 13 padded to 16
    for (let use = 0; use < 3; use++) tf.tidy(() => expectClose(affine(X, Wx, H, Wh, b), reference, `use ${use}`, { rtol: 0, atol: 0 }));
    expect(gemm.keptFloats).toBe(kept + (7 + 9 + 1) * 16);
    // The same W_h with another bias: packed again, not read from the kept stack.
    const b2 = tf.add(b, 1) as tf.Tensor1D;
    const shifted = tf.tidy(() => tf.add(first, 1).arraySync() as Nested);
    for (let use = 0; use < 3; use++) tf.tidy(() => expectClose(affine(X, Wx, H, Wh, b2), shifted, `other bias, use ${use}`, { rtol: 1e-6, atol: 1e-6 }));
    expect(gemm.keptFloats).toBe(kept + (7 + 9 + 1) * 16); // the new stack replaced the first
    tf.dispose([first, b2]);
    gemm.sweep(tf.backend() as never);
    expect(gemm.keptFloats).toBe(kept); // its bias is gone, so is the stack
    tf.dispose([X, H, Wx, Wh, b]);
  });

  it('composes the ops where its operands do not fit it (a bias of rank 2)', () => {
    const [X, Wx, H, Wh, b] = operands[1] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const b2 = tf.reshape(b, [1, 13]);
    const { result, paths } = watchOpPaths(() => affine(X, Wx, H, Wh, b2));
    expect(paths).toEqual([]);
    expectClose(result, (expected[1] as { value: Nested }).value, 'rank-2 bias', { rtol: 1e-5, atol: 1e-5 });
    tf.dispose([b2, result]);
  });
});

describe('affine elsewhere', () => {
  it('is the composed ops on cpu (no kernel registered there)', async () => {
    await useBackend('cpu');
    expect(tf.getKernel(AFFINE_KERNEL, 'cpu')).toBeUndefined();
    const X = tf.tensor2d([[1, 2]]);
    const Wx = tf.tensor2d([[1], [1]]);
    const H = tf.tensor2d([[3]]);
    const Wh = tf.tensor2d([[2]]);
    const b = tf.tensor1d([0.5]);
    const { result, paths } = watchOpPaths(() => affine(X, Wx, H, Wh, b));
    expect(paths).toEqual([]);
    expect(result.arraySync()).toEqual([[9.5]]);
    tf.dispose([X, Wx, H, Wh, b, result]);
  });
});
