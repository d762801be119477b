import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useBackend, type Nested } from '../../../../test/backends.js';
import { SIGMOID_GRAD_KERNEL, TANH_GRAD_KERNEL, installWasmKernels } from './backend.js';
import { processKernels } from './simd.js';

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
    [
      [1, 0, 0, 0],
      [1, 3, 4, 5],
    ],
    [
      [0, 2, 0, 0],
      [1, 1, 4, 5],
    ],
    [
      [1, 1, 3, 0],
      [1, 1, 1, 5],
    ],
    [
      [0, 0, 0, 0],
      [-1, -1, -1, -1],
    ],
    [
      [1, 0, 0, 0],
      [0, 3, 4, 5],
    ],
    [
      [0, 1, 1, 2],
      [2, 2, 3, 2],
    ],
  ];
  let seq: tf.Tensor;
  let seqInt: tf.Tensor;
  let stockSlices: [Nested, Nested][] = [];
  // Unstack on every axis, and splits into equal and unequal parts on the first and a later axis.
  const unstackAxes = [0, 1, 2, -1];
  const splitCases: [number | number[], number][] = [
    [2, 0],
    [[1, 2], 1],
    [[2, -1, 1], 3],
    [4, 2],
  ];
  const parts = (ts: tf.Tensor[]): Nested[] => ts.map((t) => t.arraySync() as Nested);
  let stockUnstacks: Nested[][] = [];
  let stockSplits: Nested[][] = [];
  // Exp across all of float32: overflow to Infinity, denormals, underflow to 0, NaN, infinities,
  // lengths that are not a multiple of 4 (the kernel's partial last vector), empty, and int32.
  let expInputs: tf.Tensor[] = [];
  let stockExp: Float32Array[] = [];
  // Sums over leading axes (rows of random values of mixed sizes, so that the order of the adds
  // shows in the bits), with keepDims, and reductions the replacement leaves to the stock kernel.
  const sumCases: [number[], number | number[], boolean][] = [
    [[32, 512], 0, false],
    [[1120, 28], 0, false],
    [[37, 23], 0, false], // 16 columns a pass, then 4, then 3 one by one
    [[35, 3, 7], [0, 1], false],
    [[35, 3, 7], [1, 0], false], // the stock kernel's: it adds axis 0 fastest
    [[5, 6], 0, true],
    [[2, 3, 5], [0], true],
    [[5, 6], 1, false],
    [[5, 6], [0, 1], false],
    [[4, 5, 6], [0, 2], false],
    [[7], 0, false],
  ];
  let sumInputs: tf.Tensor[] = [];
  let stockSums: { shape: number[]; values: Float32Array }[] = [];
  const sweepLength = 4097;

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
    const sweep = Array.from({ length: sweepLength }, (_, i) => -115 + (210 * i) / 4096);
    const edges = [88.72, 88.7228, 88.7229, 88.73, 89, 1e30, -87.3, -100, -103.28, -103.9, -104, -105, -1e30, 0, -0, 1e-8];
    const specials = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, Number.NaN];
    expInputs = [
      tf.tensor1d([...sweep, ...edges, ...specials]),
      ...[1, 3, 5, 1023].map((n, i) => tf.randomUniform([n], -20, 20, 'float32', 7 + i)),
      tf.randomNormal([2, 3, 5], 0, 4, 'float32', 11),
      tf.tensor2d([], [0, 3]),
      tf.tensor1d([-2, 0, 3], 'int32'),
    ];
    stockExp = expInputs.map((t) => tf.exp(t).dataSync() as Float32Array);
    sumInputs = sumCases.map(([shape], i) => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 50 + i), tf.exp(tf.randomNormal(shape, 0, 3, 'float32', 80 + i))));
    stockSums = sumCases.map(([, axis, keepDims], i) => {
      const y = tf.sum(sumInputs[i]!, axis, keepDims);
      return { shape: y.shape, values: y.dataSync() as Float32Array };
    });
    const first = installWasmKernels();
    expect(first).toEqual([
      'BatchMatMul',
      'Tanh',
      'Slice',
      'Identity',
      'Unpack',
      'SplitV',
      'Exp',
      'Sum',
      'Cast',
      'Sigmoid gradient',
      'Tanh gradient',
      'Add gradient',
      'Sub gradient',
      'Multiply gradient',
      'RnnkitAffine',
    ]);
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
    expect(splits[1]!.map((t) => t.shape)).toEqual([
      [1, 3, 4, 5],
      [1, 3, 4, 5],
    ]);
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

  it('Exp matches the stock kernel to 2e-6 relative, with its Infinity, denormals, 0 and NaN', () => {
    const k = processKernels();
    expect(k).not.toBeNull();
    const inUse = k!.inUse;
    const before = tf.memory().numTensors;
    expInputs.forEach((x, c) => {
      const y = tf.exp(x);
      expect(y.shape, `exp case ${c}`).toEqual(x.shape);
      expect(y.dtype).toBe('float32');
      const got = y.dataSync();
      const want = stockExp[c] as Float32Array;
      expect(got.length).toBe(want.length);
      want.forEach((w, i) => {
        const g = got[i] as number;
        const at = `exp case ${c} at ${x.dataSync()[i]}: got ${g}, stock ${w}`;
        if (Number.isNaN(w)) expect(Number.isNaN(g), at).toBe(true);
        else if (w === 0 || !Number.isFinite(w)) expect(g, at).toBe(w);
        // Below 2^-126 a float has fewer bits: one denormal step (2^-149) of rounding is allowed there.
        else expect(Math.abs(g - w), at).toBeLessThanOrEqual(2e-6 * w + 2 ** -149);
      });
      y.dispose();
    });
    const all = stockExp[0] as Float32Array;
    expect(all.some((w) => w > 0 && w < 2 ** -126)).toBe(true); // the sweep reaches denormals
    expect(all.filter((w) => w === Number.POSITIVE_INFINITY).length).toBeGreaterThan(2);
    expect(tf.memory().numTensors).toBe(before);
    expect(k!.inUse).toBe(inUse);
  });

  it("Tanh is rnnkit's SIMD tanh: a sweep matches Math.tanh to 2e-7, odd lengths too", () => {
    const inputs = [tf.linspace(-12, 12, 4099), tf.tensor1d([0.3, -0.7, 5])];
    const before = tf.memory().numTensors;
    for (const input of inputs) {
      const y = tf.tanh(input);
      const want = [...input.dataSync()].map(Math.tanh);
      expectClose(y, want, `tanh of ${input.size}`, { rtol: 0, atol: 2e-7 });
      y.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(inputs);
  });

  it('Sum of an empty tensor is zeros over any axes (the stock kernel leaves that output unwritten), and empty over no columns', () => {
    const before = tf.memory().numTensors;
    // Garbage first, where the next output is likely to land.
    tf.tidy(() => tf.fill([2, 3], 7.5).dataSync());
    const empty = tf.zeros([0, 3]);
    const y = tf.sum(empty, 0);
    expect(y.shape).toEqual([3]);
    expect([...y.dataSync()]).toEqual([0, 0, 0]);
    const kept = tf.sum(empty, 0, true);
    expect(kept.shape).toEqual([1, 3]);
    expect([...kept.dataSync()]).toEqual([0, 0, 0]);
    const narrow = tf.zeros([4, 0]);
    const noColumns = tf.sum(narrow, 0);
    expect(noColumns.shape).toEqual([0]);
    // Over every axis, and over a trailing one, of an empty tensor.
    tf.tidy(() => tf.fill([4], 7.5).dataSync());
    const all = tf.sum(empty);
    expect(all.shape).toEqual([]);
    expect([...all.dataSync()]).toEqual([0]);
    const hollow = tf.zeros([2, 0, 3]);
    const trailing = tf.sum(hollow, 1);
    expect(trailing.shape).toEqual([2, 3]);
    expect([...trailing.dataSync()]).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([empty, y, kept, narrow, noColumns, all, hollow, trailing]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("Sum over leading axes gives the stock kernel's bits, keepDims shapes, and leaves other reductions to it", () => {
    const before = tf.memory().numTensors;
    sumCases.forEach(([shape, axis, keepDims], i) => {
      const y = tf.sum(sumInputs[i]!, axis, keepDims);
      const label = `sum of [${shape}] over ${axis}${keepDims ? ', keepDims' : ''}`;
      expect(y.shape, label).toEqual(stockSums[i]!.shape);
      expect([...y.dataSync()], label).toEqual([...stockSums[i]!.values]);
      y.dispose();
    });
    const ints = tf.sum(
      tf.tensor2d(
        [
          [1, 2],
          [3, 4],
        ],
        undefined,
        'int32',
      ),
      0,
    );
    expect(ints.dtype).toBe('int32');
    expect([...ints.dataSync()]).toEqual([4, 6]);
    ints.dispose();
    expect(tf.memory().numTensors).toBe(before + 1); // the int32 input above
  });

  it('Cast to its own dtype shares the data; to another dtype it converts', () => {
    const a = tf.tensor1d([1.5, -2.25]);
    const buffers = tf.memory().numDataBuffers;
    const same = tf.cast(a, 'float32');
    expect(tf.memory().numDataBuffers).toBe(buffers);
    a.dispose();
    expect([...same.dataSync()]).toEqual([1.5, -2.25]);
    const ints = tf.cast(same, 'int32');
    expect(ints.dtype).toBe('int32');
    expect([...ints.dataSync()]).toEqual([1, -2]);
    tf.dispose([same, ints]);
    expect(tf.memory().numDataBuffers).toBe(buffers - 1);
  });

  it('keeps gradients through tanh and matMul right', () => {
    const a = tf.tensor2d([
      [0.3, -0.2],
      [0.1, 0.7],
    ]);
    const b = tf.tensor2d([
      [1.5, -0.5],
      [0.25, 2],
    ]);
    const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(p, q))))([a, b]);
    // d/dA sum(tanh(AB)) = (1 - tanh^2(AB)) B^T, computed by hand in float64.
    const ab = [
      [0.3 * 1.5 - 0.2 * 0.25, 0.3 * -0.5 - 0.2 * 2],
      [0.1 * 1.5 + 0.7 * 0.25, 0.1 * -0.5 + 0.7 * 2],
    ];
    const d = ab.map((r) => r.map((v) => 1 - Math.tanh(v) ** 2));
    const bt = [
      [1.5, 0.25],
      [-0.5, 2],
    ];
    const expectedA = d.map((r) => [0, 1].map((j) => r[0]! * bt[0]![j]! + r[1]! * bt[1]![j]!));
    expectClose(g[0]!, expectedA, 'dA', { rtol: 1e-5 });
  });

  it("takes sigmoid's and tanh's gradients as one kernel each, with the bits of the ops they replace; a gradient of a gradient takes the ops", async () => {
    // Lengths with a partial last vector, values across both activations' range, dy of any sign.
    for (const n of [1, 7, 16384, 4099]) {
      const x = tf.mul(tf.randomNormal([n], 0, 3, 'float32', n), 1);
      const dy = tf.randomNormal([n], 0, 1, 'float32', n + 1);
      for (const [f, kernel, byOps] of [
        [tf.sigmoid, SIGMOID_GRAD_KERNEL, (y: tf.Tensor) => tf.mul(dy, tf.mul(y, tf.sub(tf.scalar(1), y)))],
        [tf.tanh, TANH_GRAD_KERNEL, (y: tf.Tensor) => tf.mul(tf.sub(tf.scalar(1), tf.square(y)), dy)],
      ] as const) {
        const before = tf.memory().numTensors;
        let grad: Float32Array = new Float32Array();
        const { kernels } = await tf.profile(() => {
          const g = tf.grad((v: tf.Tensor) => f(v))(x, dy);
          grad = g.dataSync() as Float32Array;
          g.dispose();
        });
        expect(kernels.map((k) => k.name)).toContain(kernel);
        const want = tf.tidy(() => byOps(f(x)).dataSync() as Float32Array);
        expect(Array.from(grad), `${kernel} ${n}`).toEqual(Array.from(want));
        expect(tf.memory().numTensors).toBe(before);
      }
      tf.dispose([x, dy]);
    }
    // A taped backward pass (the gradient differentiated again, here through dy = w) runs the ops:
    // d/dw sum(d/dx sum(w * sigmoid(x))) = sum(s (1 - s)).
    const x = tf.tensor1d([-2, -0.5, 0, 0.3, 4]);
    const w = tf.scalar(1.5);
    const outer = tf.grad((v: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(v, tf.sigmoid(u))))(x)))(w);
    const s = [-2, -0.5, 0, 0.3, 4].map((v) => 1 / (1 + Math.exp(-v)));
    expectClose(
      outer,
      s.reduce((sum, v) => sum + v * (1 - v), 0),
      'd/dw of the sigmoid gradient',
      { rtol: 1e-5 },
    );
    tf.dispose([x, w, outer]);
  });

  it("takes Add's, Sub's and Multiply's gradients without the reshapes and casts that only copy, with the same bits; broadcasting and a gradient of a gradient take the ops", async () => {
    const a = tf.randomNormal([6, 10], 0, 1, 'float32', 31);
    const b = tf.randomNormal([6, 10], 0, 1, 'float32', 32);
    const dy = tf.randomNormal([6, 10], 0, 1, 'float32', 33);
    const bias = tf.randomNormal([10], 0, 1, 'float32', 34);
    // z = (a + b) * a - b, then a bias added by broadcasting (the registered gradient's reduction).
    const f = (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) => tf.add(tf.sub(tf.mul(tf.add(p, q), p), q), r);
    const before = tf.memory().numTensors;
    let grads: number[][] = [];
    const { kernels } = await tf.profile(() => {
      const g = tf.grads(f)([a, b, bias], dy);
      grads = g.map((t) => Array.from(t.dataSync()));
      tf.dispose(g);
    });
    const names = kernels.map((k) => k.name);
    expect(names).not.toContain('Cast');
    // One Reshape: the broadcast bias's gradient, summed over the rows (the registered gradient's).
    expect(names.filter((n) => n === 'Reshape')).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(before);
    // By hand, op for op: d/dp = dy (p + q) + dy p, d/dq = dy p - dy, d/dr = dy's column sums.
    const want = tf.tidy(() => {
      const s = tf.add(a, b);
      const m = tf.mul(dy, a);
      return [tf.add(tf.mul(dy, s), m), tf.sub(m, dy), tf.sum(dy, 0)].map((t) => Array.from(t.dataSync()));
    });
    expect(grads).toEqual(want);
    // The operand of dy's shape beside a broadcast scalar (d2l's 1 - Z, 2 u): -dy and dy 2 straight.
    let du: number[] = [];
    const scalars = await tf.profile(() => {
      const g = tf.grad((u: tf.Tensor) => tf.add(tf.sub(1, u), tf.mul(tf.scalar(2), u)))(a, dy);
      du = Array.from(g.dataSync());
      g.dispose();
    });
    expect(scalars.kernels.map((k) => k.name).filter((n) => n === 'Reshape' || n === 'Cast')).toEqual([]);
    expect(du).toEqual(tf.tidy(() => Array.from(tf.add(tf.mul(dy, tf.scalar(2)), tf.neg(dy)).dataSync())));
    // Differentiated again (the tape on in the backward pass, through an add whose dy depends on w):
    // d/du sum(w (u + u u)) = w (1 + 2u), summed over x = w (3 + 2 sum(x)) = 5w, so d/dw = 5.
    const x = tf.tensor1d([0.5, -1.5, 2]);
    const outer = tf.grad((w: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(w, tf.add(u, tf.mul(u, u)))))(x)))(tf.scalar(1.5));
    expectClose(outer, 5, 'd/dw through the add', { rtol: 1e-6 });
    tf.dispose([a, b, dy, bias, x, outer]);
  });

  it('Identity shares the data: a clone outlives its source, and both free their memory', () => {
    const before = tf.memory();
    const a = tf.tensor2d([
      [1, -2],
      [3, 4.5],
    ]);
    const buffers = tf.memory().numDataBuffers;
    const b = tf.clone(a);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    a.dispose();
    expect(b.arraySync()).toEqual([
      [1, -2],
      [3, 4.5],
    ]);
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
