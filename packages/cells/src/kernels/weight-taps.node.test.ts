import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@rnnkit/data';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useBackend, type Nested } from '../../../../test/backends.js';
import type { ScratchCell } from '../cell.js';
import { gruCell } from '../gru.js';
import { lstmCell } from '../lstm.js';
import { RNNModelScratch } from '../model.js';
import { affine } from '../ops.js';
import type { Params } from '../params.js';
import { rnnCell } from '../rnn.js';
import {
  AFFINE_WEIGHT_GRADS_KERNEL,
  STREAMED_WEIGHT_GRADS_KERNEL,
  TAPPED_AFFINE_KERNEL,
  WEIGHT_TAP_KERNEL,
  composeAffineWeightGrads,
  withSharedSaves,
  withWeightTaps,
} from './affine.js';
import { wasmMatMul } from './backend.js';
import { activeKernels } from './simd.js';
import { setKernelThreads } from './threads.js';
import '../index.node.js';

// A scratch model's forward pass under `withWeightTaps` must give the gradients of the untapped
// cells (one weight-gradient product per step, summed by the engine), with one product per
// (W_x, W_h, b) for the whole pass, the same bits on any thread count. Where X's and H's widths
// are multiples of 4 (V = 8), the uses stream into background products as they arrive; else
// (V = 7) they are one product when the tap's gradient runs.

const CELLS: [string, ScratchCell, number][] = [
  ['rnn', rnnCell, 1],
  ['gru', gruCell, 3],
  ['lstm', lstmCell, 4],
];

const HIDDEN = 64;
const BATCH = 32;
const STEPS = 5;

let V = 7;

/** Every step's logits weighed differently, so that each gradient entry is distinct. */
function lossOf(cell: ScratchCell, params: Params, X: tf.Tensor3D, w: tf.Tensor2D, steps = STEPS): tf.Scalar {
  const { outputs } = cell.forward(X, cell.initState(BATCH, HIDDEN), params);
  return tf.sum(tf.mul(tf.slice(outputs, 0, steps * BATCH), tf.slice(w, 0, steps * BATCH))) as tf.Scalar;
}

/** The gradients of `loss` w.r.t. `vars`, as arrays, and the kernels they ran (by name: count). */
async function gradsAndKernels(loss: () => tf.Scalar, vars: tf.Variable[]): Promise<{ grads: number[][]; kernels: Record<string, number> }> {
  let grads: number[][] = [];
  const info = await tf.profile(() => {
    const { value, grads: g } = tf.variableGrads(loss, vars);
    grads = vars.map((v) => Array.from(g[v.name]?.dataSync() ?? []));
    tf.dispose([value, ...Object.values(g)]);
  });
  const kernels: Record<string, number> = {};
  for (const k of info.kernels) kernels[k.name] = (kernels[k.name] ?? 0) + 1;
  return { grads, kernels };
}

/** Kernels' memory in use: a stream gives its regions back once its pass is done or has failed. */
const kernelFloats = () => activeKernels()?.inUse ?? 0;

for (const vocab of [7, 8])
  describe(`weight taps on wasm (${vocab === 8 ? 'streamed' : 'one product'}, V = ${vocab})`, () => {
    let inputs: tf.Tensor3D;
    let w: tf.Tensor2D;
    const streamed = vocab === 8;

    beforeAll(async () => {
      V = vocab;
      await useBackend('wasm');
      expect(activeKernels()).not.toBeNull();
      inputs = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniformInt([STEPS, BATCH], 0, V, 3) as tf.Tensor2D, V), 'float32')) as tf.Tensor3D;
      w = tf.randomNormal([STEPS * BATCH, V], 0, 1, 'float32', 4) as tf.Tensor2D;
    });
    afterAll(() => tf.dispose([inputs, w]));
    afterEach(() => setKernelThreads('auto'));

    for (const [name, cell, gates] of CELLS) {
      it(`${name}: one weight-gradient product per gate for the whole pass, the untapped gradients within float32 rounding`, async () => {
        const params = cell.initParams(V, HIDDEN, createRng(1));
        const vars = Object.values(params);
        const before = tf.memory().numTensors;
        const untapped = await gradsAndKernels(() => lossOf(cell, params, inputs, w), vars);
        const tapped = await gradsAndKernels(() => withWeightTaps(() => lossOf(cell, params, inputs, w)), vars);
        const used = kernelFloats();
        expect(untapped.kernels[AFFINE_WEIGHT_GRADS_KERNEL]).toBe(gates * STEPS);
        expect(tapped.kernels[streamed ? STREAMED_WEIGHT_GRADS_KERNEL : AFFINE_WEIGHT_GRADS_KERNEL]).toBe(gates);
        if (streamed) expect(tapped.kernels[AFFINE_WEIGHT_GRADS_KERNEL]).toBeUndefined();
        expect(kernelFloats()).toBe(used);
        expect(tapped.kernels[WEIGHT_TAP_KERNEL]).toBe(gates);
        expect(tapped.kernels[TAPPED_AFFINE_KERNEL]).toBe(gates * STEPS);
        Object.keys(params).forEach((p, i) => {
          expectClose(tapped.grads[i] as number[], untapped.grads[i] as number[], `${name} d${p}`, { rtol: 1e-4, atol: 1e-6 });
        });
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose(vars);
      });
    }

    it('takes the uses as a stack: the same bits as the product of their rows copied into one tensor', () => {
      // Uses of unequal rows; widths a multiple of 4 (the block transpose) and not (the plain loop).
      for (const [Kx, Kh, N] of [
        [7, 64, 64],
        [8, 12, 20],
      ] as const) {
        const rows = [32, 5, 32, 3];
        const make = (cols: number, seed: number) => rows.map((r, i) => tf.randomNormal([r, cols], 0, 1, 'float32', seed + i) as tf.Tensor2D);
        const [xs, hs, gs] = [make(Kx, 100), make(Kh, 200), make(N, 300)] as tf.Tensor2D[][];
        const before = tf.memory().numTensors;
        const dataIds = tf.backend().numDataIds();
        const inputs: tf.NamedTensorMap = {};
        rows.forEach((_, i) => {
          Object.assign(inputs, { [`x${i}`]: xs?.[i], [`h${i}`]: hs?.[i], [`g${i}`]: gs?.[i] });
        });
        const stacked = tf.engine().runKernel(AFFINE_WEIGHT_GRADS_KERNEL, inputs, { uses: rows.length }) as tf.Tensor[];
        const joined = tf.tidy(
          () => tf.engine().runKernel(AFFINE_WEIGHT_GRADS_KERNEL, { x: tf.concat(xs!), h: tf.concat(hs!), g: tf.concat(gs!) }) as tf.Tensor[],
        );
        const composed = composeAffineWeightGrads({ inputs, attrs: { uses: rows.length }, backend: tf.backend() } as never).map((t) =>
          tf.engine().makeTensorFromTensorInfo(t),
        );
        stacked.forEach((t, j) => {
          expect(t.shape, `${Kx}x${Kh}x${N} output ${j}`).toEqual(joined[j]?.shape);
          expect(Array.from(t.dataSync()), `${Kx}x${Kh}x${N} output ${j}`).toEqual(Array.from(joined[j]?.dataSync() ?? []));
          expectClose(composed[j] as tf.Tensor, joined[j]?.arraySync() as Nested, `composed output ${j}`, { rtol: 1e-5, atol: 1e-5 });
        });
        tf.dispose([...stacked, ...joined, ...composed]);
        expect(tf.memory().numTensors).toBe(before);
        expect(tf.backend().numDataIds()).toBe(dataIds); // the fallback's concatenations freed too
        tf.dispose([...xs!, ...hs!, ...gs!]);
      }
    });

    it('never keeps a stack of gradients packed, even where its first is a kept operand', () => {
      const gemm = wasmMatMul()!;
      const [x0, x1] = [tf.randomNormal([8, 4], 0, 1, 'float32', 30), tf.randomNormal([8, 4], 0, 1, 'float32', 31)];
      const [h0, h1] = [tf.randomNormal([8, 8], 0, 1, 'float32', 32), tf.randomNormal([8, 8], 0, 1, 'float32', 33)];
      const [g0, g1] = [tf.randomNormal([8, 12], 0, 1, 'float32', 34), tf.randomNormal([8, 12], 0, 1, 'float32', 35)];
      const a = tf.randomNormal([3, 8], 0, 1, 'float32', 36);
      // g0 as a plain B three times: kept.
      for (let i = 0; i < 3; i++) tf.tidy(() => tf.matMul(a, g0));
      gemm.sweep(tf.backend() as never);
      const kept = gemm.keptFloats;
      const stacked = tf.engine().runKernel(AFFINE_WEIGHT_GRADS_KERNEL, { x0, x1, h0, h1, g0, g1 }, { uses: 2 }) as tf.Tensor[];
      expect(gemm.keptFloats).toBe(kept);
      const joined = tf.tidy(
        () => tf.engine().runKernel(AFFINE_WEIGHT_GRADS_KERNEL, { x: tf.concat([x0, x1]), h: tf.concat([h0, h1]), g: tf.concat([g0, g1]) }) as tf.Tensor[],
      );
      stacked.forEach((t, j) => {
        expect(Array.from(t.dataSync()), `output ${j}`).toEqual(Array.from(joined[j]?.dataSync() ?? []));
      });
      tf.dispose([...stacked, ...joined, x0, x1, h0, h1, g0, g1, a] as tf.Tensor[]);
      expect(() => tf.engine().runKernel(AFFINE_WEIGHT_GRADS_KERNEL, {}, { uses: 0 })).toThrow(/uses must be a whole number of at least 1, got 0/);
    });

    it('gives the same bits on 1, 2 and 3 threads', async () => {
      const params = gruCell.initParams(V, HIDDEN, createRng(2));
      const vars = Object.values(params);
      const runs: number[][][] = [];
      for (const threads of [1, 2, 3]) {
        setKernelThreads(threads);
        await activeKernels()?.pool?.whenReady();
        runs.push((await gradsAndKernels(() => withWeightTaps(() => lossOf(gruCell, params, inputs, w)), vars)).grads);
      }
      expect(runs[1]).toEqual(runs[0]);
      expect(runs[2]).toEqual(runs[0]);
      tf.dispose(vars);
    });

    it('sums only the steps on the way to the loss, and gives the weights that need it their gradients alone', async () => {
      const params = gruCell.initParams(V, HIDDEN, createRng(3));
      const before = tf.memory().numTensors;
      // The loss reads two of five steps: the later steps' uses leave holes in the tap.
      const some = [params.W_hz, params.b_r, params.W_xh] as tf.Variable[];
      const untapped = await gradsAndKernels(() => lossOf(gruCell, params, inputs, w, 2), some);
      const tapped = await gradsAndKernels(() => withWeightTaps(() => lossOf(gruCell, params, inputs, w, 2)), some);
      some.forEach((v, i) => {
        expectClose(tapped.grads[i] as number[], untapped.grads[i] as number[], v.name, { rtol: 1e-4, atol: 1e-6 });
      });
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(params));
    });

    it('leaves the weights out of the tape where only the state needs a gradient', () => {
      const params = rnnCell.initParams(V, HIDDEN, createRng(4));
      const H0 = tf.randomNormal([BATCH, HIDDEN], 0, 1, 'float32', 5) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      const f = (h: tf.Tensor) => {
        const { outputs } = rnnCell.forward(inputs, [h as tf.Tensor2D], params);
        return tf.sum(tf.mul(outputs, w)) as tf.Scalar;
      };
      const [untapped] = tf.grads(f)([H0]);
      const [tapped] = tf.grads((h: tf.Tensor) => withWeightTaps(() => f(h)))([H0]);
      expect(Array.from(tapped?.dataSync() ?? [])).toEqual(Array.from(untapped?.dataSync() ?? []));
      tf.dispose([tapped, untapped]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([H0, ...Object.values(params)]);
    });

    it('differentiates twice: a taped backward pass sums the steps as ops', () => {
      const X = tf.randomNormal([4, 3], 0, 1, 'float32', 7) as tf.Tensor2D;
      const Wx = tf.randomNormal([3, 8], 0, 0.5, 'float32', 8) as tf.Tensor2D;
      const Wh = tf.randomNormal([8, 8], 0, 0.5, 'float32', 9) as tf.Tensor2D;
      const b = tf.randomNormal([8], 0, 0.5, 'float32', 6) as tf.Tensor1D;
      const H0 = tf.randomNormal([4, 8], 0, 1, 'float32', 10) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      // Two steps through the same weights; d/dWh of sum(dL/dWh) for L = sum(H_2^2).
      const second = (taps: boolean) =>
        tf.grad((wh: tf.Tensor) => {
          const inner = tf.grad((v: tf.Tensor) => {
            const run = () => {
              let H = H0;
              for (let t = 0; t < 2; t++) H = tf.tanh(affine(X, Wx, H, v as tf.Tensor2D, b));
              return tf.sum(tf.square(H));
            };
            return taps ? withWeightTaps(run) : run();
          })(wh);
          return tf.sum(inner);
        })(Wh);
      const viaTaps = second(true);
      const viaOps = second(false);
      expectClose(viaTaps, viaOps.arraySync() as Nested, 'second-order dW_h', { rtol: 1e-5, atol: 1e-5 });
      tf.dispose([viaTaps, viaOps]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([X, Wx, Wh, b, H0]);
    });

    describe('three steps of tanh(affine) through the same weights', () => {
      let X: tf.Tensor2D;
      let Wx: tf.Variable;
      let Wh: tf.Variable;
      let b: tf.Variable;
      let H0: tf.Tensor2D;
      const steps = (wx: tf.Tensor, wh: tf.Tensor, bias: tf.Tensor) => {
        const Hs: tf.Tensor2D[] = [];
        let H = H0;
        for (let t = 0; t < 3; t++) {
          H = tf.tanh(affine(X, wx as tf.Tensor2D, H, wh as tf.Tensor2D, bias));
          Hs.push(H);
        }
        return Hs;
      };
      // The same function of the weights with and without taps: close, as the sums' orders differ.
      const bothWays = (f: () => tf.Tensor, label: string) => {
        const before = tf.memory().numTensors;
        const plain = f();
        const used = kernelFloats();
        const tapped = withWeightTaps(f);
        expect(kernelFloats()).toBe(used);
        expectClose(tapped, plain.arraySync() as Nested, label, { rtol: 1e-5, atol: 1e-6 });
        tf.dispose([plain, tapped]);
        expect(tf.memory().numTensors).toBe(before);
      };
      beforeAll(() => {
        const width = streamed ? 4 : 3;
        X = tf.randomNormal([4, width], 0, 1, 'float32', 20) as tf.Tensor2D;
        Wx = tf.variable(tf.randomNormal([width, 8], 0, 0.5, 'float32', 21));
        Wh = tf.variable(tf.randomNormal([8, 8], 0, 0.5, 'float32', 22));
        b = tf.variable(tf.randomNormal([8], 0, 0.5, 'float32', 23));
        H0 = tf.randomNormal([4, 8], 0, 1, 'float32', 24) as tf.Tensor2D;
      });
      afterAll(() => tf.dispose([X, Wx, Wh, b, H0]));

      it('sums only its own backward pass: a gradient taken inside the function leaves nothing behind', () => {
        // The inner gradient (w.r.t. the state) runs the steps' gradients but not the tap's.
        bothWays(
          () =>
            tf.grad((wh: tf.Tensor) => {
              const Hs = steps(Wx, wh, b);
              tf.grad(() => tf.sum(Hs[2] as tf.Tensor))(H0).dispose();
              return tf.sum(Hs[0] as tf.Tensor);
            })(Wh),
          'outer dW_h',
        );
      });

      it('sums only its own backward pass: uses left by an inner pass that failed are not summed', () => {
        bothWays(() => {
          // Its gradient throws the first time: the inner pass below fails after steps 2 and 1 gave
          // their uses to the tap, before the tap's gradient.
          let failures = 1;
          const failOnce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
            value: tf.clone(args[0] as tf.Tensor),
            gradFunc: (dy: tf.Tensor) => {
              if (failures-- > 0) throw new Error('failed on purpose');
              return dy;
            },
          }));
          return tf.grad((wh: tf.Tensor) => {
            const Hs: tf.Tensor[] = [];
            let H: tf.Tensor = H0;
            for (let t = 0; t < 3; t++) {
              H = tf.tanh(affine(X, Wx as tf.Tensor2D, H as tf.Tensor2D, wh as tf.Tensor2D, b));
              if (t === 0) H = failOnce(H);
              Hs.push(H);
            }
            expect(() => tf.grad(() => tf.sum(Hs[2] as tf.Tensor))(wh)).toThrow('failed on purpose');
            return tf.sum(Hs[0] as tf.Tensor);
          })(Wh);
        }, 'outer dW_h');
      });

      it("gives back the kernels' memory of a pass that failed before its tap's gradient", () => {
        const failing = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
          value: tf.clone(args[0] as tf.Tensor),
          gradFunc: () => {
            throw new Error('failed on purpose');
          },
        }));
        const f = (fail: boolean) =>
          tf.grad((wh: tf.Tensor) => {
            let H: tf.Tensor = H0;
            for (let t = 0; t < 3; t++) {
              H = tf.tanh(affine(X, Wx as tf.Tensor2D, H as tf.Tensor2D, wh as tf.Tensor2D, b));
              if (t === 0 && fail) H = failing(H);
            }
            return tf.sum(H);
          })(Wh);
        f(false).dispose();
        const used = kernelFloats();
        // Steps 2 and 1 give their uses to the tap; the pass fails at step 0, before the tap's gradient.
        expect(() => withWeightTaps(() => f(true))).toThrow('failed on purpose');
        withWeightTaps(() => f(false)).dispose();
        expect(kernelFloats()).toBe(used);
      });

      it('taps each gradient tape anew: two gradients inside one withWeightTaps call', () => {
        const f = () => tf.grad((wh: tf.Tensor) => tf.sum(tf.square(steps(Wx, wh, b)[2] as tf.Tensor)))(Wh);
        const before = tf.memory().numTensors;
        const plain = [f(), f()];
        const tapped = withWeightTaps(() => [f(), f()]);
        tapped.forEach((t, i) => {
          expectClose(t, plain[i]?.arraySync() as Nested, `gradient ${i}`, { rtol: 1e-5, atol: 1e-6 });
        });
        tf.dispose([...plain, ...tapped]);
        expect(tf.memory().numTensors).toBe(before);
      });

      it('takes weights that are not variables (freed before the backward pass)', () => {
        bothWays(() => tf.grad((wh: tf.Tensor) => tf.sum(tf.square(steps(tf.mul(Wx, 1), tf.mul(wh, 1), b)[2] as tf.Tensor)))(Wh), 'dW_h');
      });

      it('differentiates the weights as they were in the forward pass', () => {
        const W0 = Wh.clone();
        const f = () =>
          tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => {
              const L = tf.sum(tf.square(steps(Wx, Wh, b)[2] as tf.Tensor)) as tf.Scalar;
              Wh.assign(tf.mul(W0, 2));
              return L;
            }, [Wx, b]);
            Wh.assign(W0);
            return tf.concat([tf.reshape(grads[Wx.name] as tf.Tensor, [-1]), grads[b.name] as tf.Tensor, tf.reshape(value, [1])]);
          });
        bothWays(f, 'dW_x, db and the loss');
        W0.dispose();
      });
    });

    it('taps nothing without a gradient tape, and a scratch model trains with flat memory', () => {
      const model = new RNNModelScratch({ vocabSize: V, numHiddens: HIDDEN, ...gruCell, seed: 1 });
      const X = tf.randomUniformInt([BATCH, STEPS], 0, V, 11) as tf.Tensor2D;
      const Y = tf.randomUniformInt([BATCH, STEPS], 0, V, 12) as tf.Tensor2D;
      const step = () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const { logits } = model.call(X, model.beginState(BATCH));
            return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D, V), logits) as tf.Scalar;
          }, model.trainableVariables);
          for (const v of model.trainableVariables) v.assign(tf.sub(v, tf.mul(0.1, grads[v.name] as tf.Tensor)));
        });
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      const plain = tf.tidy(() => model.call(X, model.beginState(BATCH)).logits.arraySync() as Nested);
      const tapped = tf.tidy(() => withWeightTaps(() => model.call(X, model.beginState(BATCH)).logits.arraySync() as Nested));
      expect(tapped).toEqual(plain);
      tf.dispose([X, Y]);
      model.dispose();
    });
  });

describe('saved tensors shared for a first-order gradient (wasm)', () => {
  beforeAll(() => useBackend('wasm'));

  const saving = () => Object.prototype.hasOwnProperty.call(tf.engine(), 'saveTensorsForBackwardMode');

  it("gives the bits of the engine's copies with no Identity run for them, memory flat, the engine as it was after", async () => {
    const x = tf.variable(tf.randomNormal([8, 12], 0, 1, 'float32', 21), true, 'sharedSavesX');
    const w = tf.randomNormal([12, 5], 0, 1, 'float32', 22);
    const loss = () => tf.sum(tf.mul(tf.sigmoid(tf.matMul(tf.tanh(x), w)), tf.sub(1, tf.slice(tf.exp(tf.mul(x, 0.1)), [0, 0], [8, 5])))) as tf.Scalar;
    const stock = await gradsAndKernels(loss, [x]);
    const before = tf.memory().numTensors;
    const shared = await gradsAndKernels(() => withSharedSaves(loss), [x]);
    expect(tf.memory().numTensors).toBe(before);
    expect(saving()).toBe(false);
    expect(stock.kernels.Identity).toBeGreaterThan(5);
    expect(shared.kernels.Identity).toBeUndefined();
    expect(shared.grads).toEqual(stock.grads);
    tf.dispose([x, w]);
  });

  it("keeps the engine's copies for a gradient of a gradient: d2/dx2 of x^3 is 6x", () => {
    const x = tf.tensor1d([0.5, -1.5, 2]);
    const inner = (y: tf.Tensor) => withSharedSaves(() => tf.sum(tf.mul(tf.mul(y, y), y)));
    const second = tf.grad((y: tf.Tensor) => tf.sum(tf.grad(inner)(y)))(x);
    expectClose(Array.from(second.dataSync()), [3, -9, 12], 'd2/dx2', { rtol: 1e-6, atol: 1e-6 });
    // Nested inside itself, each level puts back what it found.
    withSharedSaves(() => withSharedSaves(() => tf.tidy(() => tf.grad(inner)(x).dataSync())));
    expect(saving()).toBe(false);
    tf.dispose([x, second]);
  });
});
