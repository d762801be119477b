import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../../test/backends.js';
import { createRng } from '@rnnkit/data';
import { activeKernels, oneHotFloat, setKernelThreads, useKernels, watchOpPaths, type Kernels } from '@rnnkit/cells';
import { denseCrossEntropy } from './dense-cross-entropy.js';

function randomTensor(shape: number[], rng: { next(): number }, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * scale),
    shape,
  );
}

/** Loss and gradients (x, W, b) of 2.5 times the loss, by `loss`, on seeded inputs. */
function run(N: number, H: number, V: number, loss: (x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D, labels: Int32Array) => tf.Scalar) {
  const rng = createRng(7);
  const x = randomTensor([N, H], rng, 2) as tf.Tensor2D;
  const W = randomTensor([H, V], rng, 0.5) as tf.Tensor2D;
  const b = randomTensor([V], rng, 0.5) as tf.Tensor1D;
  const labels = Int32Array.from({ length: N }, () => Math.floor(rng.next() * V));
  const { value, grads } = tf.valueAndGrads((a: tf.Tensor, w: tf.Tensor, bb: tf.Tensor) =>
    tf.mul(loss(a as tf.Tensor2D, w as tf.Tensor2D, bb as tf.Tensor1D, labels), 2.5),
  )([x, W, b]);
  const out = { value: value.dataSync()[0] as number, grads: grads.map((g) => Array.from(g.dataSync())) };
  tf.dispose([value, ...grads, x, W, b]);
  return out;
}

/** The unfused definition: a matmul, the bias, and TensorFlow.js's mean softmax cross-entropy. */
function separateOps(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D, labels: Int32Array): tf.Scalar {
  const targets = oneHotFloat(tf.tensor1d(labels, 'int32'), W.shape[1]);
  return tf.losses.softmaxCrossEntropy(targets, tf.add(tf.matMul(x, W), b), undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
}

function expectAllClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  const worst = Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number)) / (1e-3 + Math.abs(b[i] as number))));
  expect(worst).toBeLessThan(tol);
}

for (const backend of TEST_BACKENDS) {
  describe(`denseCrossEntropy on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterEach(() => useKernels(true));

    // V 28 is The Time Machine's vocabulary; 29 and 3 leave padding columns in the kernels' rows;
    // N 6 and H 10 are not in whole lanes (the separate ops run).
    for (const [N, H, V] of [
      [64, 16, 28],
      [40, 8, 29],
      [40, 12, 29],
      [8, 8, 3],
      [6, 10, 5],
    ] as [number, number, number][]) {
      it(`equals the separate ops: loss and every gradient (N ${N}, H ${H}, V ${V})`, () => {
        const before = tf.memory().numTensors;
        const k = activeKernels() as Kernels;
        const inUse = k.inUse;
        const fused = run(N, H, V, denseCrossEntropy);
        expect(k.inUse).toBe(inUse); // the backward pass gave its saved region back
        const reference = run(N, H, V, separateOps);
        expect(Math.abs(fused.value - reference.value)).toBeLessThan(1e-5 * Math.abs(reference.value));
        fused.grads.forEach((g, i) => {
          expectAllClose(g, reference.grads[i] as number[], 1e-4);
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    // Row weights: a padding mask over the steps (d2l's MaskedSoftmaxCELoss(...).sum()), zeros included.
    for (const [N, H, V] of [
      [40, 12, 29],
      [6, 10, 5],
    ] as [number, number, number][]) {
      it(`with row weights equals the separate ops' weighted sum: loss and every gradient (N ${N}, H ${H}, V ${V})`, () => {
        const before = tf.memory().numTensors;
        const weights = Float32Array.from({ length: N }, (_, i) => (i % 7 < 5 ? 1 / 10 : 0));
        const { result: fused, paths } = watchOpPaths(() => run(N, H, V, (x, W, b, labels) => denseCrossEntropy(x, W, b, labels, weights)));
        expect(paths).toEqual([
          N % 4 === 0 ? { op: 'denseCrossEntropy', kernels: true } : { op: 'denseCrossEntropy', kernels: false, reason: `${N} rows are not a multiple of 4` },
        ]);
        const reference = run(N, H, V, (x, W, b, labels) =>
          tf.tidy(() => {
            const targets = oneHotFloat(tf.tensor1d(labels, 'int32'), V);
            const perRow = tf.losses.softmaxCrossEntropy(targets, tf.add(tf.matMul(x, W), b), undefined, 0, tf.Reduction.NONE);
            return tf.sum(tf.mul(perRow, tf.tensor1d(weights))) as tf.Scalar;
          }),
        );
        expect(Math.abs(fused.value - reference.value)).toBeLessThan(1e-5 * Math.abs(reference.value));
        fused.grads.forEach((g, i) => {
          expectAllClose(g, reference.grads[i] as number[], 1e-4);
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    it('runs the kernels where the sizes allow: no matmul or softmax op, where the separate ops have them', async () => {
      const rng = createRng(5);
      const x = randomTensor([16, 8], rng) as tf.Tensor2D;
      const W = randomTensor([8, 5], rng) as tf.Tensor2D;
      const b = randomTensor([5], rng) as tf.Tensor1D;
      const labels = new Int32Array(16).fill(2);
      const opsOf = async () => (await tf.profile(() => denseCrossEntropy(x, W, b, labels))).kernelNames;
      const fused = await opsOf();
      useKernels(false); // no kernels: the separate ops run
      const separate = await opsOf();
      expect(separate).toEqual(expect.arrayContaining(['BatchMatMul', 'Exp']));
      expect(fused).not.toContain('BatchMatMul');
      expect(fused).not.toContain('Exp');
      tf.dispose([x, W, b]);
    });

    it("is the separate ops where x's rows or features are not multiples of 4", async () => {
      const rng = createRng(6);
      for (const [N, H] of [
        [6, 8],
        [8, 10],
      ]) {
        const x = randomTensor([N as number, H as number], rng) as tf.Tensor2D;
        const W = randomTensor([H as number, 5], rng) as tf.Tensor2D;
        const b = randomTensor([5], rng) as tf.Tensor1D;
        const ops = (await tf.profile(() => denseCrossEntropy(x, W, b, new Int32Array(N as number).fill(1)))).kernelNames;
        expect(ops).toEqual(expect.arrayContaining(['BatchMatMul', 'Exp']));
        tf.dispose([x, W, b]);
      }
    });

    it('without a gradient tape keeps nothing in the kernels’ memory', () => {
      const k = activeKernels() as Kernels;
      const inUse = k.inUse;
      const rng = createRng(3);
      const x = randomTensor([16, 8], rng) as tf.Tensor2D;
      const W = randomTensor([8, 5], rng) as tf.Tensor2D;
      const b = randomTensor([5], rng) as tf.Tensor1D;
      const loss = denseCrossEntropy(x, W, b, new Int32Array(16).fill(4));
      expect(loss.dataSync()[0]).toBeGreaterThan(0);
      expect(k.inUse).toBe(inUse);
      tf.dispose([x, W, b, loss]);
    });

    it('names what is wrong with its inputs', () => {
      const x = tf.zeros([8, 4]) as tf.Tensor2D;
      const W = tf.zeros([4, 3]) as tf.Tensor2D;
      const b = tf.zeros([3]) as tf.Tensor1D;
      expect(() => denseCrossEntropy(x, W, b, new Int32Array(8).fill(3))).toThrow(/Token id 3 is outside the vocabulary of 3/);
      expect(() => denseCrossEntropy(x, W, b, new Int32Array(7))).toThrow(/8 rows of x but 7 labels/);
      expect(() => denseCrossEntropy(x, W, b, new Int32Array(8), new Float32Array(3))).toThrow(/8 rows of x but 3 weights/);
      expect(() => denseCrossEntropy(x, tf.zeros([5, 3]) as tf.Tensor2D, b, new Int32Array(8))).toThrow(/x has 4 features but W has 5 rows/);
      expect(() => denseCrossEntropy(x, W, tf.zeros([4]) as tf.Tensor1D, new Int32Array(8))).toThrow(/b has 4 entries, expected 3/);
      tf.dispose([x, W, b]);
    });
  });
}

describe('denseCrossEntropy on worker threads', () => {
  beforeAll(() => useBackend('wasm'));
  afterEach(() => setKernelThreads('auto'));

  it("2 and 3 threads give the single thread's loss and gradients bit for bit", async () => {
    const on = async (threads: number) => {
      setKernelThreads(threads);
      const k = activeKernels() as Kernels;
      if (threads > 1) expect(await k.pool?.whenReady()).toBe(true);
      expect(k.threads).toBe(threads);
      return run(96, 16, 29, denseCrossEntropy);
    };
    const one = await on(1);
    for (const threads of [2, 3]) {
      const many = await on(threads);
      expect(many.value).toBe(one.value);
      expect(many.grads).toEqual(one.grads);
    }
  });
});
