import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../../test/backends.js';
import { createRng } from '@rnnkit/data';
import { activeKernels, setKernelThreads, useKernels, watchOpPaths, type Kernels } from '@rnnkit/cells';
import { fusedRecurrence, type RecurrenceResult } from './recurrence.js';
import { gatherRows } from './gather.js';
import { GATES, type CellKind } from '../cell-kinds.js';
import { RecurrentLayer } from '../layers.js';

const T = 4;
const B = 3;
const H = 8;

function randomTensor(shape: number[], rng: { next(): number }, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * scale),
    shape,
  );
}

/** Output and gradients (xProj, h0, [c0], W_hh, b_hh, [b_ih]) of sum(out * R). */
function run(cell: CellKind, resetAfter: boolean, withInputBias: boolean, seed = 1, dims = { T, B, H }) {
  const { T, B, H } = dims;
  const rng = createRng(seed);
  const GH = GATES[cell] * H;
  const xp = randomTensor([T, B, GH], rng, 2) as tf.Tensor3D;
  const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
  const c0 = cell === 'lstm' ? (randomTensor([B, H], rng) as tf.Tensor2D) : null;
  const W = randomTensor([H, GH], rng, 0.5) as tf.Tensor2D;
  const b = randomTensor([GH], rng, 0.5) as tf.Tensor1D;
  const bih = randomTensor([GH], rng, 0.5) as tf.Tensor1D;
  const R = randomTensor([cell === 'lstm' ? T + 1 : T, B, H], rng);
  const inputs = [xp, h0, ...(c0 ? [c0] : []), W, b, bih];
  const f = (...args: tf.Tensor[]) => {
    const [x, h, c, w, bb, bi] = c0 ? args : [args[0], args[1], null, args[2], args[3], args[4]];
    const opts = { cell, resetAfter, ...(withInputBias ? { inputBias: bi as tf.Tensor1D } : {}) };
    const xIn = withInputBias ? (x as tf.Tensor3D) : (tf.add(x as tf.Tensor, bi as tf.Tensor) as tf.Tensor3D);
    const state = c ? [h as tf.Tensor2D, c as tf.Tensor2D] : [h as tf.Tensor2D];
    return tf.sum(tf.mul(packed(fusedRecurrence(xIn, state, w as tf.Tensor2D, bb as tf.Tensor1D, opts)), R));
  };
  const { result, paths } = watchOpPaths(() => tf.valueAndGrads(f)(inputs));
  const { value, grads } = result;
  const out = { value: value.dataSync()[0] as number, grads: grads.map((g) => Array.from(g.dataSync())), paths };
  tf.dispose([value, ...grads, ...inputs, R]);
  return out;
}

/** The path a run on the kernels must report, and one on the JS loops with them turned off. */
const ON_KERNELS = [{ op: 'fusedRecurrence', kernels: true }];
const ON_JS_LOOPS = [{ op: 'fusedRecurrence', kernels: false, reason: 'turned off (useKernels(false))' }];

/** h_1..h_T and, for the LSTM, c_T as one more row: the shape the tests' weights R take. */
function packed({ outputs, state }: RecurrenceResult): tf.Tensor {
  return state.length === 2 ? tf.concat([outputs, tf.expandDims(state[1]!, 0)]) : outputs;
}

function expectAllClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  const worst = Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number)) / (1e-3 + Math.abs(b[i] as number))));
  expect(worst).toBeLessThan(tol);
}

for (const backend of TEST_BACKENDS) {
  describe(`fusedRecurrence kernels on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterEach(() => useKernels(true));

    for (const [cell, weightGemm] of [
      ['rnn', false],
      ['gru', false],
      ['lstm', false],
      ['rnn', true],
      ['gru', true],
      ['lstm', true],
    ] as [CellKind, boolean][]) {
      it(`${cell} on the kernels (WebAssembly SIMD) equals the JS loops: output and every gradient (dW_hh by ${weightGemm ? 'the kernels' : 'the backend'})`, () => {
        const before = tf.memory().numTensors;
        const k = activeKernels() as Kernels;
        const preferred = k.weightGradientGemm;
        k.weightGradientGemm = weightGemm;
        const wasm = run(cell, true, true);
        k.weightGradientGemm = preferred;
        useKernels(false);
        const js = run(cell, true, true);
        expect(wasm.paths).toEqual(ON_KERNELS); // a kind without kernels would run its JS loops here
        expect(js.paths).toEqual(ON_JS_LOOPS);
        expect(Math.abs(wasm.value - js.value)).toBeLessThan(1e-4 * Math.abs(js.value) + 1e-5);
        expect(wasm.grads).toHaveLength(cell === 'lstm' ? 6 : 5);
        wasm.grads.forEach((g, i) => {
          expectAllClose(g, js.grads[i] as number[], 1e-4);
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    // d2l's reset-before GRU: the candidate's own product inside the step. H 12 puts a 4-column
    // tail panel in W_n; T*B 15 is not a whole number of 4 x 4 blocks (dW_hh by the backend).
    for (const [weightGemm, dims] of [
      [false, { T, B, H }],
      [true, { T, B, H }],
      [true, { T: 3, B: 4, H: 12 }],
      [false, { T: 5, B: 3, H: 12 }],
      [true, { T: 5, B: 3, H: 12 }], // the kernels' gemm asked for, T*B not in 4 x 4 blocks: the backend's
    ] as [boolean, { T: number; B: number; H: number }][]) {
      it(`gru (d2l, reset before; T ${dims.T}, B ${dims.B}, H ${dims.H}) on the kernels equals the JS loops: output and every gradient (dW_hh by ${weightGemm ? 'the kernels' : 'the backend'})`, () => {
        const before = tf.memory().numTensors;
        const k = activeKernels() as Kernels;
        const inUse = k.inUse;
        const preferred = k.weightGradientGemm;
        k.weightGradientGemm = weightGemm;
        const wasm = run('gru', false, true, 1, dims);
        k.weightGradientGemm = preferred;
        expect(k.inUse).toBe(inUse);
        useKernels(false);
        const js = run('gru', false, true, 1, dims);
        expect(wasm.paths).toEqual(ON_KERNELS);
        expect(js.paths).toEqual(ON_JS_LOOPS);
        expect(wasm.value).not.toBe(js.value); // the kernels ran: float32 lanes round unlike the JS loops' doubles
        expect(Math.abs(wasm.value - js.value)).toBeLessThan(1e-4 * Math.abs(js.value) + 1e-5);
        expect(wasm.grads).toHaveLength(5);
        wasm.grads.forEach((g, i) => {
          expectAllClose(g, js.grads[i] as number[], 1e-4);
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    it('gives back its kernel memory after the backward pass, and at once when no gradient is taped', () => {
      const k = activeKernels() as Kernels;
      const inUse = k.inUse;
      run('gru', true, true);
      expect(k.inUse).toBe(inUse);
      const rng = createRng(2);
      const x = randomTensor([T, B, 3 * H], rng) as tf.Tensor3D;
      const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
      const W = randomTensor([H, 3 * H], rng) as tf.Tensor2D;
      const b = randomTensor([3 * H], rng) as tf.Tensor1D;
      tf.dispose(fusedRecurrence(x, [h0], W, b, { cell: 'gru' }));
      expect(k.inUse).toBe(inUse);
      tf.dispose([x, h0, W, b]);
    });

    it('stays right when its memory grows in the middle of a pass', () => {
      // A fresh module starts with no memory, so the passes below grow it at every new high.
      useKernels(false);
      useKernels(true);
      const rng = createRng(11);
      const [t, b, h] = [5, 4, 64];
      const x = randomTensor([t, b, 3 * h], rng) as tf.Tensor3D;
      const h0 = randomTensor([b, h], rng) as tf.Tensor2D;
      const W = randomTensor([h, 3 * h], rng, 0.2) as tf.Tensor2D;
      const bias = randomTensor([3 * h], rng) as tf.Tensor1D;
      const grads = () => {
        const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
          tf.sum(tf.square(fusedRecurrence(xx as tf.Tensor3D, [h0], ww as tf.Tensor2D, bias, { cell: 'gru' }).outputs)),
        )([x, W]);
        const out = g.map((v) => Array.from(v.dataSync()));
        tf.dispose(g);
        return out;
      };
      const wasm = grads();
      useKernels(false);
      const js = grads();
      wasm.forEach((g, i) => {
        expectAllClose(g, js[i] as number[], 5e-4);
      });
      tf.dispose([x, h0, W, bias]);
    });

    it('reports why it ran its JS loops: a hidden size not in whole SIMD lanes', () => {
      const out = run('gru', true, true, 1, { T: 2, B: 3, H: 10 });
      expect(out.paths).toEqual([{ op: 'fusedRecurrence', kernels: false, reason: 'hidden size 10 is not a multiple of 4' }]);
    });

    it('saturated gates and tiny tanh arguments stay accurate', () => {
      // Scale 40 pushes pre-activations far into the sigmoid's and tanh's flat ends.
      const rng = createRng(3);
      const x = tf.tensor3d(
        Float32Array.from({ length: 3 * B * 3 * H }, (_, i) => (i % 5 === 0 ? 1e-4 : 40) * (2 * rng.next() - 1)),
        [3, B, 3 * H],
      );
      const h0 = tf.zeros([B, H]) as tf.Tensor2D;
      const W = tf.zeros([H, 3 * H]) as tf.Tensor2D;
      const b = tf.zeros([3 * H]) as tf.Tensor1D;
      const wasm = fusedRecurrence(x, [h0], W, b, { cell: 'gru' }).outputs;
      useKernels(false);
      const js = fusedRecurrence(x, [h0], W, b, { cell: 'gru' }).outputs;
      expectAllClose(Array.from(wasm.dataSync()), Array.from(js.dataSync()), 1e-5);
      tf.dispose([x, h0, W, b, wasm, js]);
    });

    for (const cell of ['gru', 'lstm'] as CellKind[]) {
      it(`${cell}: inputIds (rows of W_ih inside) equals gatherRows outside, W_ih's gradient included`, () => {
        const rng = createRng(5);
        const V = 5;
        const GH = GATES[cell] * H;
        const ids = Int32Array.from({ length: T * B }, () => rng.int(0, V - 1));
        const Wih = randomTensor([V, GH], rng);
        const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
        const c0 = cell === 'lstm' ? (randomTensor([B, H], rng) as tf.Tensor2D) : null;
        const W = randomTensor([H, GH], rng, 0.5) as tf.Tensor2D;
        const b = randomTensor([GH], rng, 0.5) as tf.Tensor1D;
        const R = randomTensor([cell === 'lstm' ? T + 1 : T, B, H], rng);
        const loss = (inside: boolean) => (w: tf.Tensor) => {
          const x = inside ? w : tf.reshape(gatherRows(ids, w as tf.Tensor2D), [T, B, GH]);
          return tf.sum(tf.mul(packed(fusedRecurrence(x as tf.Tensor3D, c0 ? [h0, c0] : [h0], W, b, { cell, ...(inside ? { inputIds: ids } : {}) })), R));
        };
        const a = tf.valueAndGrad(loss(true))(Wih);
        const g = tf.valueAndGrad(loss(false))(Wih);
        expectAllClose(Array.from(a.grad.dataSync()), Array.from(g.grad.dataSync()), 1e-5);
        expect(Math.abs((a.value.dataSync()[0] as number) - (g.value.dataSync()[0] as number))).toBeLessThan(1e-4);
        expect(() => fusedRecurrence(Wih as tf.Tensor2D, c0 ? [h0, c0] : [h0], W, b, { cell, inputIds: Int32Array.from([0, V]) })).toThrow(
          /ids do not split|outside the vocabulary/,
        );
        expect(() => fusedRecurrence(Wih as tf.Tensor2D, c0 ? [h0, c0] : [h0], W, b, { cell, inputIds: Int32Array.from([0, 1, V]) })).toThrow(
          /Token id 5 is outside the vocabulary of 5/,
        );
        tf.dispose([Wih, h0, ...(c0 ? [c0] : []), W, b, R, a.value, a.grad, g.value, g.grad]);
      });
    }

    for (const [cell, resetAfter] of [
      ['rnn', true],
      ['gru', true],
      ['gru', false],
      ['lstm', true],
    ] as [CellKind, boolean][]) {
      it(`${cell}${cell === 'gru' ? (resetAfter ? ' (reset after)' : ' (d2l)') : ''}: inputBias inside equals adding b_ih outside, gradients included`, () => {
        const inside = run(cell, resetAfter, true, 7);
        const outside = run(cell, resetAfter, false, 7);
        expect(Math.abs(inside.value - outside.value)).toBeLessThan(1e-4 * Math.abs(outside.value) + 1e-5);
        inside.grads.forEach((g, i) => {
          expectAllClose(g, outside.grads[i] as number[], 1e-4);
        });
      });
    }
  });
}

// The kernels' worker threads split a pass by batch rows: the states and every gradient are the
// single thread's bit for bit (each row's arithmetic is the same, and the bias gradients are
// summed after the pass in one order), so a run is reproducible whatever the thread count.
describe('fusedRecurrence on worker threads', () => {
  beforeAll(() => useBackend('wasm'));
  afterEach(() => setKernelThreads('auto'));

  /** run() on `threads` threads, the pool started and the threaded path checked to run. */
  async function onThreads(threads: number, kind: CellKind, resetAfter: boolean, dims: { T: number; B: number; H: number }) {
    setKernelThreads(threads);
    const k = activeKernels() as Kernels;
    if (threads > 1) expect(await k.pool?.whenReady()).toBe(true);
    expect(k.threads).toBe(threads);
    const inUse = k.inUse;
    const out = run(kind, resetAfter, true, 9, dims);
    expect(k.inUse).toBe(inUse);
    return out;
  }

  it("with token ids and b_ih inside (the first layer of RNNModel; the GRU has its own dG): 2 and 3 threads give the single thread's gradients bit for bit", async () => {
    const T = 5;
    const B = 12;
    const H = 16;
    const V = 7;
    const withIds = async (threads: number) => {
      setKernelThreads(threads);
      const k = activeKernels() as Kernels;
      if (threads > 1) expect(await k.pool?.whenReady()).toBe(true);
      expect(k.threads).toBe(threads);
      const rng = createRng(4);
      const ids = Int32Array.from({ length: T * B }, () => Math.floor(rng.next() * V));
      const inputs = [
        randomTensor([V, 3 * H], rng),
        randomTensor([B, H], rng),
        randomTensor([H, 3 * H], rng, 0.5),
        randomTensor([3 * H], rng),
        randomTensor([3 * H], rng),
      ];
      const R = randomTensor([T, B, H], rng);
      const { value, grads } = tf.valueAndGrads((wih: tf.Tensor, h0: tf.Tensor, w: tf.Tensor, b: tf.Tensor, bih: tf.Tensor) =>
        tf.sum(
          tf.mul(
            fusedRecurrence(wih as tf.Tensor2D, [h0 as tf.Tensor2D], w as tf.Tensor2D, b as tf.Tensor1D, {
              cell: 'gru',
              inputIds: ids,
              inputBias: bih as tf.Tensor1D,
            }).outputs,
            R,
          ),
        ),
      )(inputs);
      const out = { value: value.dataSync()[0], grads: grads.map((g) => Array.from(g.dataSync())) };
      tf.dispose([value, ...grads, ...inputs, R]);
      return out;
    };
    const before = tf.memory().numTensors;
    const one = await withIds(1);
    for (const threads of [2, 3]) expect(await withIds(threads)).toEqual(one);
    expect(tf.memory().numTensors).toBe(before);
  });

  /**
   * Output and gradients (x, W_ih, h0, [c0], W_hh, b_hh, b_ih) of sum(out * R) with dense inputs x
   * (T*B, I): projected inside the op (`inputRows`), or by the matmul outside it.
   */
  function runDense(kind: CellKind, resetAfter: boolean, inside: boolean, dims: { T: number; B: number; H: number; I: number }) {
    const { T, B, H, I } = dims;
    const rng = createRng(11);
    const GH = GATES[kind] * H;
    const two = kind === 'lstm';
    const inputs = [
      randomTensor([T * B, I], rng),
      randomTensor([I, GH], rng, 0.5),
      randomTensor([B, H], rng),
      ...(two ? [randomTensor([B, H], rng)] : []),
      randomTensor([H, GH], rng, 0.5),
      randomTensor([GH], rng, 0.5),
      randomTensor([GH], rng, 0.5),
    ];
    const R = randomTensor([T, B, H], rng);
    const f = (...a: tf.Tensor[]) => {
      const [x, wih, h0] = a as tf.Tensor2D[];
      const c0 = two ? (a[3] as tf.Tensor2D) : null;
      const [w, b, bih] = a.slice(two ? 4 : 3) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
      const state = c0 ? [h0!, c0] : [h0!];
      const opts = { cell: kind, resetAfter, inputBias: bih };
      const r = inside
        ? fusedRecurrence(wih!, state, w, b, { ...opts, inputRows: x! })
        : fusedRecurrence(tf.reshape(tf.matMul(x!, wih!), [T, B, GH]) as tf.Tensor3D, state, w, b, opts);
      return tf.sum(tf.mul(r.outputs, R));
    };
    // The matmuls that run (none where the op projects the inputs itself, forward or backward).
    const engine = tf.engine();
    const runKernel = engine.runKernel.bind(engine);
    let matMuls = 0;
    engine.runKernel = ((name: string, ...rest: unknown[]) => {
      if (name === 'BatchMatMul') matMuls++;
      return (runKernel as (...a: unknown[]) => unknown)(name, ...rest);
    }) as typeof engine.runKernel;
    let run: ReturnType<typeof watchOpPaths<ReturnType<ReturnType<typeof tf.valueAndGrads>>>>;
    try {
      run = watchOpPaths(() => tf.valueAndGrads(f)(inputs));
    } finally {
      engine.runKernel = runKernel;
    }
    const { result, paths } = run;
    const out = { value: result.value.dataSync()[0], grads: result.grads.map((g) => Array.from(g.dataSync())), paths, matMuls };
    tf.dispose([result.value, ...result.grads, ...inputs, R]);
    return out;
  }

  for (const [kind, resetAfter, dims] of [
    ['gru', true, { T: 5, B: 8, H: 16, I: 12 }],
    ['gru', false, { T: 4, B: 4, H: 12, I: 8 }], // d2l's GRU; H 12 puts a 4-column tail panel in the products
    ['lstm', true, { T: 3, B: 12, H: 8, I: 20 }],
    ['rnn', true, { T: 6, B: 6, H: 4, I: 4 }],
  ] as [CellKind, boolean, { T: number; B: number; H: number; I: number }][]) {
    const name = `${kind}${kind === 'gru' ? (resetAfter ? ' (reset after)' : ' (d2l)') : ''}`;
    it(`${name}: dense inputs projected inside give the matmul outside's output and gradients bit for bit, on 1, 2 and 3 threads`, async () => {
      const before = tf.memory().numTensors;
      setKernelThreads(1);
      const outside = runDense(kind, resetAfter, false, dims);
      for (const threads of [1, 2, 3]) {
        setKernelThreads(threads);
        const k = activeKernels() as Kernels;
        if (threads > 1) expect(await k.pool?.whenReady()).toBe(true);
        const inUse = k.inUse;
        const inside = runDense(kind, resetAfter, true, dims);
        expect(k.inUse).toBe(inUse);
        expect(inside.paths).toEqual(ON_KERNELS);
        expect(inside.matMuls, 'the projection ran inside').toBe(0);
        expect(outside.matMuls).toBe(3); // x W_ih, and its two gradients
        expect(inside.value, `${threads} threads`).toBe(outside.value);
        expect(inside.grads, `${threads} threads`).toEqual(outside.grads);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('takes dense inputs whose width or row count the kernels cannot take, and on the JS loops, through the matmul outside', () => {
    const before = tf.memory().numTensors;
    // I = 6 and T*B = 15 are not multiples of 4: the projection is the matmul, the same bits.
    for (const dims of [
      { T: 5, B: 4, H: 8, I: 6 },
      { T: 5, B: 3, H: 8, I: 8 },
    ]) {
      const inside = runDense('gru', true, true, dims);
      const outside = runDense('gru', true, false, dims);
      expect(inside.matMuls).toBe(outside.matMuls);
      expect(inside.value).toBe(outside.value);
      expect(inside.grads).toEqual(outside.grads);
    }
    const dims = { T: 4, B: 4, H: 8, I: 8 };
    const onKernels = runDense('lstm', true, true, dims);
    useKernels(false);
    try {
      const js = runDense('lstm', true, true, dims);
      expect(js.paths).toEqual(ON_JS_LOOPS);
      expect(Math.abs((js.value as number) - (onKernels.value as number))).toBeLessThan(1e-4 * Math.abs(js.value as number) + 1e-5);
      js.grads.forEach((g, i) => {
        expectAllClose(g, onKernels.grads[i] as number[], 1e-4);
      });
    } finally {
      useKernels(true);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a layer's two directions give the bits of the matmul outside (the reverse one projects outside, then reverses), and a row count that is not T x B is refused", async () => {
    const [T, B, I, H] = [5, 4, 8, 8];
    const before = tf.memory().numTensors;
    const layer = new RecurrentLayer('gru', I, H, createRng(21));
    const rng = createRng(22);
    const x = randomTensor([T * B, I], rng) as tf.Tensor2D;
    const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
    const R = randomTensor([T, B, H], rng);
    const vars = [layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh];
    const reversedOutside = () => {
      const xp = tf.reverse(tf.reshape(tf.matMul(x, layer.W_ih), [T, B, 3 * H]), 0) as tf.Tensor3D;
      const r = fusedRecurrence(xp, [h0], layer.W_hh as tf.Tensor2D, layer.b_hh as tf.Tensor1D, { cell: 'gru', inputBias: layer.b_ih as tf.Tensor1D });
      return tf.reverse(r.outputs, 0);
    };
    const grads = (f: () => tf.Tensor) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(f(), R)) as tf.Scalar, vars);
      const out = { value: value.dataSync()[0], grads: vars.map((v) => Array.from(grads[v.name]!.dataSync())) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const forwardOutside = () => {
      const xp = tf.reshape(tf.matMul(x, layer.W_ih), [T, B, 3 * H]) as tf.Tensor3D;
      return fusedRecurrence(xp, [h0], layer.W_hh as tf.Tensor2D, layer.b_hh as tf.Tensor1D, { cell: 'gru', inputBias: layer.b_ih as tf.Tensor1D }).outputs;
    };
    for (const threads of [1, 2]) {
      setKernelThreads(threads);
      const k = activeKernels() as Kernels;
      if (threads > 1) expect(await k.pool?.whenReady()).toBe(true);
      expect(grads(() => layer.applyRows(x, T, B, [h0], true).outputs)).toEqual(grads(reversedOutside));
      expect(grads(() => layer.applyRows(x, T, B, [h0]).outputs)).toEqual(grads(forwardOutside));
    }
    expect(() => layer.applyRows(x, T + 1, B, [h0])).toThrow(/got 20 input rows for 6 steps of batch 4 \(24 rows\)/);
    tf.dispose([x, h0, R]);
    layer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses dense inputs that do not fit W_ih or the batch, and ids with them, naming the shapes', () => {
    const rng = createRng(3);
    const wih = randomTensor([8, 24], rng) as tf.Tensor2D;
    const h0 = randomTensor([4, 8], rng) as tf.Tensor2D;
    const w = randomTensor([8, 24], rng) as tf.Tensor2D;
    const b = randomTensor([24], rng) as tf.Tensor1D;
    const wide = randomTensor([8, 6], rng) as tf.Tensor2D;
    const ragged = randomTensor([6, 8], rng) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    expect(() => fusedRecurrence(wih, [h0], w, b, { cell: 'gru', inputRows: wide })).toThrow(/inputRows \[8, 6\] and xProj \[8, 24\] for batch 4/);
    expect(() => fusedRecurrence(wih, [h0], w, b, { cell: 'gru', inputRows: ragged })).toThrow(/inputRows \[6, 8\]/);
    expect(() => fusedRecurrence(wih, [h0], w, b, { cell: 'gru', inputRows: ragged, inputIds: Int32Array.from([0, 1, 2, 3]) })).toThrow(/not both/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wih, h0, w, b, wide, ragged]);
  });

  for (const [kind, resetAfter, dims] of [
    ['rnn', true, { T: 5, B: 12, H: 16 }],
    ['gru', true, { T: 5, B: 12, H: 16 }],
    ['gru', false, { T: 4, B: 9, H: 12 }], // d2l's GRU: W_n's product inside the step, a 1-row tail
    ['lstm', true, { T: 6, B: 16, H: 8 }],
  ] as [CellKind, boolean, { T: number; B: number; H: number }][]) {
    const name = `${kind}${kind === 'gru' ? (resetAfter ? ' (reset after)' : ' (d2l)') : ''}`;
    it(`${name}, B ${dims.B}: 2 and 3 threads give the single thread's output and gradients bit for bit`, async () => {
      const before = tf.memory().numTensors;
      const one = await onThreads(1, kind, resetAfter, dims);
      for (const threads of [2, 3]) {
        const many = await onThreads(threads, kind, resetAfter, dims);
        expect(many.value).toBe(one.value);
        expect(many.grads).toEqual(one.grads);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
