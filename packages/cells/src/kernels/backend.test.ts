import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useBackend, type Nested } from '../../../../test/backends.js';
import { installWasmKernels } from './backend.js';

// The replacement kernels must give what the stock wasm kernels gave, for every transpose
// combination, batched inputs and the values where tanh saturates.
describe('installWasmKernels', () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[2, 5, 7], [2, 3, 5], true, true],
    [[1, 64, 33], [33, 40], false, false],
  ];
  let inputs: (readonly [tf.Tensor, tf.Tensor])[] = [];
  let x: tf.Tensor;
  let stockMatMul: Nested[] = [];
  let stockTanh: number[] = [];
  // Contiguous (a step, a row, everything, an empty part) and strided slices, begin and size.
  const sliceCases: [number[], number[]][] = [
    [[1, 0, 0, 0], [1, 3, 4, 5]],
    [[0, 2, 0, 0], [1, 1, 4, 5]],
    [[1, 1, 3, 0], [1, 1, 1, 5]],
    [[0, 0, 0, 0], [-1, -1, -1, -1]],
    [[1, 0, 0, 0], [0, 3, 4, 5]],
    [[0, 1, 1, 2], [2, 2, 3, 2]],
  ];
  let seq: tf.Tensor;
  let seqInt: tf.Tensor;
  let stockSlices: [Nested, Nested][] = [];
  // Unstack on every axis, and splits into equal and unequal parts on the first and a later axis.
  const unstackAxes = [0, 1, 2, -1];
  const splitCases: [number | number[], number][] = [[2, 0], [[1, 2], 1], [[2, -1, 1], 3], [4, 2]];
  const parts = (ts: tf.Tensor[]): Nested[] => ts.map((t) => t.arraySync() as Nested);
  let stockUnstacks: Nested[][] = [];
  let stockSplits: Nested[][] = [];

  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    inputs = cases.map(([sa, sb], i) => [tf.randomNormal(sa, 0, 1, 'float32', i), tf.randomNormal(sb, 0, 1, 'float32', 100 + i)] as const);
    x = tf.tensor1d([-30, -5, -1, -1e-3, 0, 1e-4, 0.5, 2, 9, 40, Number.NaN]);
    stockMatMul = cases.map(([, , ta, tb], i) => tf.matMul(inputs[i]![0], inputs[i]![1], ta, tb).arraySync() as Nested);
    stockTanh = [...x.dataSync()].map(Math.tanh);
    seq = tf.reshape(tf.range(0, 2 * 3 * 4 * 5), [2, 3, 4, 5]);
    seqInt = tf.cast(seq, 'int32');
    stockSlices = sliceCases.map(([b, sz]) => [tf.slice(seq, b, sz).arraySync() as Nested, tf.slice(seqInt, b, sz).arraySync() as Nested]);
    stockUnstacks = unstackAxes.flatMap((axis) => [parts(tf.unstack(seq, axis)), parts(tf.unstack(seqInt, axis))]);
    stockSplits = splitCases.flatMap(([how, axis]) => [parts(tf.split(seq, how, axis)), parts(tf.split(seqInt, how, axis))]);
    const first = installWasmKernels();
    expect(first).toEqual(['BatchMatMul', 'Tanh', 'Slice', 'Identity', 'Unpack', 'SplitV']);
    expect(installWasmKernels()).toEqual([]);
  });

  it('BatchMatMul matches the stock kernel with and without transposes', () => {
    cases.forEach(([, , ta, tb], i) => {
      const y = tf.matMul(inputs[i]![0], inputs[i]![1], ta, tb);
      expectClose(y, stockMatMul[i] as Nested, `matMul case ${i}`, { rtol: 1e-5, atol: 1e-5 });
    });
  });

  it('Unpack and SplitV match the stock kernels on every axis, float32 and int32', () => {
    const before = tf.memory().numTensors;
    const unstacks = unstackAxes.flatMap((axis) => [tf.unstack(seq, axis), tf.unstack(seqInt, axis)]);
    const splits = splitCases.flatMap(([how, axis]) => [tf.split(seq, how, axis), tf.split(seqInt, how, axis)]);
    unstacks.forEach((ts, i) => {
      expect(parts(ts), `unstack case ${i}`).toEqual(stockUnstacks[i]);
    });
    splits.forEach((ts, i) => {
      expect(parts(ts), `split case ${i}`).toEqual(stockSplits[i]);
    });
    expect(unstacks[1]![0]!.dtype).toBe('int32');
    expect(splits[1]!.map((t) => t.shape)).toEqual([[1, 3, 4, 5], [1, 3, 4, 5]]);
    tf.dispose([...unstacks.flat(), ...splits.flat()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Slice matches the stock kernel, contiguous or strided, float32 and int32', () => {
    sliceCases.forEach(([b, sz], i) => {
      const f = tf.slice(seq, b, sz);
      const n = tf.slice(seqInt, b, sz);
      expect(f.arraySync(), `slice case ${i}`).toEqual(stockSlices[i]![0]);
      expect(n.arraySync(), `int slice case ${i}`).toEqual(stockSlices[i]![1]);
      expect(n.dtype).toBe('int32');
      tf.dispose([f, n]);
    });
  });

  it('Tanh matches Math.tanh, saturates to +-1 and keeps NaN', () => {
    const y = [...tf.tanh(x).dataSync()];
    expect(Number.isNaN(y.at(-1))).toBe(true);
    expectClose(y.slice(0, -1), stockTanh.slice(0, -1), 'tanh', { rtol: 1e-6, atol: 2e-7 });
    expect(y[0]).toBe(-1);
    expect(y[9]).toBe(1);
  });

  it('keeps gradients through tanh and matMul right', () => {
    const a = tf.tensor2d([[0.3, -0.2], [0.1, 0.7]]);
    const b = tf.tensor2d([[1.5, -0.5], [0.25, 2]]);
    const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(p, q))))([a, b]);
    // d/dA sum(tanh(AB)) = (1 - tanh^2(AB)) B^T, computed by hand in float64.
    const ab = [[0.3 * 1.5 - 0.2 * 0.25, 0.3 * -0.5 - 0.2 * 2], [0.1 * 1.5 + 0.7 * 0.25, 0.1 * -0.5 + 0.7 * 2]];
    const d = ab.map((r) => r.map((v) => 1 - Math.tanh(v) ** 2));
    const bt = [[1.5, 0.25], [-0.5, 2]];
    const expectedA = d.map((r) => [0, 1].map((j) => r[0]! * bt[0]![j]! + r[1]! * bt[1]![j]!));
    expectClose(g[0]!, expectedA, 'dA', { rtol: 1e-5 });
  });

  it('Identity shares the data: a clone outlives its source, and both free their memory', () => {
    const before = tf.memory();
    const a = tf.tensor2d([[1, -2], [3, 4.5]]);
    const buffers = tf.memory().numDataBuffers;
    const b = tf.clone(a);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    a.dispose();
    expect(b.arraySync()).toEqual([[1, -2], [3, 4.5]]);
    const ints = tf.clone(tf.tensor1d([7, 8], 'int32'));
    expect(ints.dtype).toBe('int32');
    expect([...ints.dataSync()]).toEqual([7, 8]);
    tf.dispose([b, ints]);
    expect(tf.memory().numTensors).toBe(before.numTensors + 1); // the int32 source above, not disposed
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers + 1);
  });

  it('does nothing on other backends', async () => {
    await useBackend('cpu');
    expect(tf.getKernel('BatchMatMul', 'cpu')).toBeTruthy();
    expect(installWasmKernels()).toEqual([]);
  });
});
