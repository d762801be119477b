import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../test/backends.js';
import { createRng } from '@rnnkit/data';
import { fusedRecurrence, gatherRows, GATES, type CellKind } from './fused.js';
import { GateKernels, gateKernels, useWasmGates } from './wasm-gates.js';
// @ts-expect-error: a plain .mjs build script without types
import { compileGates } from '../scripts/build-wasm.mjs';

const T = 4;
const B = 3;
const H = 8;

function randomTensor(shape: number[], rng: { next(): number }, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * scale), shape);
}

/** Output and gradients (xProj, h0, [c0], W_hh, b_hh, [b_ih]) of sum(out * R). */
function run(kind: CellKind, resetAfter: boolean, withInputBias: boolean, seed = 1) {
  const rng = createRng(seed);
  const GH = GATES[kind] * H;
  const xp = randomTensor([T, B, GH], rng, 2) as tf.Tensor3D;
  const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
  const c0 = kind === 'lstm' ? (randomTensor([B, H], rng) as tf.Tensor2D) : null;
  const W = randomTensor([H, GH], rng, 0.5) as tf.Tensor2D;
  const b = randomTensor([GH], rng, 0.5) as tf.Tensor1D;
  const bih = randomTensor([GH], rng, 0.5) as tf.Tensor1D;
  const R = randomTensor([kind === 'lstm' ? T + 1 : T, B, H], rng);
  const inputs = [xp, h0, ...(c0 ? [c0] : []), W, b, bih];
  const f = (...args: tf.Tensor[]) => {
    const [x, h, c, w, bb, bi] = c0 ? args : [args[0], args[1], null, args[2], args[3], args[4]];
    const opts = { kind, resetAfter, ...(withInputBias ? { inputBias: bi as tf.Tensor1D } : {}) };
    const xIn = withInputBias ? (x as tf.Tensor3D) : (tf.add(x as tf.Tensor, bi as tf.Tensor) as tf.Tensor3D);
    return tf.sum(tf.mul(fusedRecurrence(xIn, h as tf.Tensor2D, c as tf.Tensor2D | null, w as tf.Tensor2D, bb as tf.Tensor1D, opts), R));
  };
  const { value, grads } = tf.valueAndGrads(f)(inputs);
  const out = { value: value.dataSync()[0] as number, grads: grads.map((g) => Array.from(g.dataSync())) };
  tf.dispose([value, ...grads, ...inputs, R]);
  return out;
}

function expectAllClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  const worst = Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number)) / (1e-3 + Math.abs(b[i] as number))));
  expect(worst).toBeLessThan(tol);
}

describe('the WebAssembly gate kernels', () => {
  it('are the module compiled from assembly/gates.ts', async () => {
    const committed = await readFile(new URL('./gates-wasm.ts', import.meta.url), 'utf8');
    expect(committed).toBe(await compileGates());
  }, 60_000);

  it('the relaxed-SIMD build (fused multiply-add) computes the same matmuls, in an engine that has it', () => {
    // Node 20 has relaxed SIMD behind a flag only: check the build in a child process that sets it.
    const script = `
      import { readFileSync } from 'node:fs';
      const text = readFileSync(${JSON.stringify(fileURLToPath(new URL('./gates-wasm.ts', import.meta.url)))}, 'utf8');
      const [plain, relaxed] = [...text.matchAll(/'([A-Za-z0-9+/=]+)'/g)].map((m) => Buffer.from(m[1], 'base64'));
      if (!WebAssembly.validate(relaxed) || !WebAssembly.validate(plain)) throw new Error('does not validate');
      const make = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
      let worst = 0;
      for (const [M, K, N] of [[32, 256, 768], [3, 20, 12], [7, 64, 4]]) {
        const outs = [plain, relaxed].map((bytes) => {
          const k = make(bytes);
          k.memory.grow(64);
          const f = new Float32Array(k.memory.buffer);
          const [A, B, P, C] = [16, 16 + M * K, 16 + M * K + K * N, 16 + M * K + 2 * K * N];
          for (let i = 0; i < M * K; i++) f[A + i] = Math.sin(i);
          for (let i = 0; i < K * N; i++) f[B + i] = Math.cos(3 * i);
          k.packPanels(4 * P, 4 * B, K, N);
          k.gemm(4 * C, 4 * A, 4 * P, M, K, N);
          return f.slice(C, C + M * N);
        });
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
          let ref = 0;
          for (let q = 0; q < K; q++) ref += Math.sin(i * K + q) * Math.cos(3 * (q * N + j));
          for (const out of outs) worst = Math.max(worst, Math.abs(out[i * N + j] - ref) / (1 + Math.abs(ref)));
        }
      }
      console.log(JSON.stringify({ worst }));
    `;
    const out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out).worst).toBeLessThan(1e-5);
  });

  it('load here (Node 20 has WebAssembly SIMD)', () => {
    expect(gateKernels()).not.toBeNull();
  });

  it('hand out 16-byte aligned regions, reuse freed ones and merge neighbours', () => {
    const k = GateKernels.create();
    const a = k.alloc(10);
    const b = k.alloc(100_000); // grows the memory past its first page
    const c = k.alloc(7);
    expect([a % 4, b % 4, c % 4]).toEqual([0, 0, 0]);
    expect(b).toBeGreaterThanOrEqual(a + 10);
    expect(c).toBeGreaterThanOrEqual(b + 100_000);
    k.f32.fill(1, b, b + 100_000);
    k.release(b);
    expect(k.alloc(50_000)).toBe(b); // first fit, in the freed region
    k.release(b);
    k.release(a);
    expect(k.alloc(100_008)).toBe(a); // a and b merged
    expect(() => k.release(b)).toThrow(/no region/);
    k.release(a);
    k.release(c);
    expect(k.inUse).toBe(0);
    expect(k.alloc(4)).toBe(a); // everything returned to the top
  });

  it('lay named buffers out in one region, in order and in whole lanes', () => {
    const k = GateKernels.create();
    const l = k.allocLayout({ A: 5, B: 0, C: 8 });
    expect([l.A, l.B, l.C]).toEqual([l.region, l.region + 8, l.region + 8]);
    expect(k.inUse).toBe(16);
    k.release(l.region);
    expect(k.inUse).toBe(0);
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`fusedRecurrence kernels on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterEach(() => useWasmGates(true));

    for (const [kind, weightGemm] of [['rnn', false], ['gru', false], ['lstm', false], ['rnn', true], ['gru', true], ['lstm', true]] as [CellKind, boolean][]) {
      it(`${kind} on WebAssembly SIMD equals the JS loops: output and every gradient (dW_hh by ${weightGemm ? 'the kernels' : 'the backend'})`, () => {
        const before = tf.memory().numTensors;
        const k = gateKernels() as GateKernels;
        const preferred = k.weightGradientGemm;
        k.weightGradientGemm = weightGemm;
        const wasm = run(kind, true, true);
        k.weightGradientGemm = preferred;
        useWasmGates(false);
        const js = run(kind, true, true);
        expect(Math.abs(wasm.value - js.value)).toBeLessThan(1e-4 * Math.abs(js.value) + 1e-5);
        expect(wasm.grads).toHaveLength(kind === 'lstm' ? 6 : 5);
        wasm.grads.forEach((g, i) => { expectAllClose(g, js.grads[i] as number[], 1e-4); });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    it('gives back its kernel memory after the backward pass, and at once when no gradient is taped', () => {
      const k = gateKernels() as GateKernels;
      const inUse = k.inUse;
      run('gru', true, true);
      expect(k.inUse).toBe(inUse);
      const rng = createRng(2);
      const x = randomTensor([T, B, 3 * H], rng) as tf.Tensor3D;
      const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
      const W = randomTensor([H, 3 * H], rng) as tf.Tensor2D;
      const b = randomTensor([3 * H], rng) as tf.Tensor1D;
      tf.dispose(fusedRecurrence(x, h0, null, W, b, { kind: 'gru' }));
      expect(k.inUse).toBe(inUse);
      tf.dispose([x, h0, W, b]);
    });

    it('stays right when its memory grows in the middle of a pass', () => {
      // A fresh module starts with no memory, so the passes below grow it at every new high.
      useWasmGates(false);
      useWasmGates(true);
      const rng = createRng(11);
      const [t, b, h] = [5, 4, 64];
      const x = randomTensor([t, b, 3 * h], rng) as tf.Tensor3D;
      const h0 = randomTensor([b, h], rng) as tf.Tensor2D;
      const W = randomTensor([h, 3 * h], rng, 0.2) as tf.Tensor2D;
      const bias = randomTensor([3 * h], rng) as tf.Tensor1D;
      const grads = () => {
        const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(fusedRecurrence(xx as tf.Tensor3D, h0, null, ww as tf.Tensor2D, bias, { kind: 'gru' }))))([x, W]);
        const out = g.map((v) => Array.from(v.dataSync()));
        tf.dispose(g);
        return out;
      };
      const wasm = grads();
      useWasmGates(false);
      const js = grads();
      wasm.forEach((g, i) => { expectAllClose(g, js[i] as number[], 5e-4); });
      tf.dispose([x, h0, W, bias]);
    });

    it('saturated gates and tiny tanh arguments stay accurate', () => {
      // Scale 40 pushes pre-activations far into the sigmoid's and tanh's flat ends.
      const rng = createRng(3);
      const x = tf.tensor3d(Float32Array.from({ length: 3 * B * 3 * H }, (_, i) => (i % 5 === 0 ? 1e-4 : 40) * (2 * rng.next() - 1)), [3, B, 3 * H]);
      const h0 = tf.zeros([B, H]) as tf.Tensor2D;
      const W = tf.zeros([H, 3 * H]) as tf.Tensor2D;
      const b = tf.zeros([3 * H]) as tf.Tensor1D;
      const wasm = fusedRecurrence(x, h0, null, W, b, { kind: 'gru' });
      useWasmGates(false);
      const js = fusedRecurrence(x, h0, null, W, b, { kind: 'gru' });
      expectAllClose(Array.from(wasm.dataSync()), Array.from(js.dataSync()), 1e-5);
      tf.dispose([x, h0, W, b, wasm, js]);
    });

    for (const kind of ['gru', 'lstm'] as CellKind[]) {
      it(`${kind}: inputIds (rows of W_ih inside) equals gatherRows outside, W_ih's gradient included`, () => {
        const rng = createRng(5);
        const V = 5;
        const GH = GATES[kind] * H;
        const ids = Int32Array.from({ length: T * B }, () => rng.int(0, V - 1));
        const Wih = randomTensor([V, GH], rng);
        const h0 = randomTensor([B, H], rng) as tf.Tensor2D;
        const c0 = kind === 'lstm' ? (randomTensor([B, H], rng) as tf.Tensor2D) : null;
        const W = randomTensor([H, GH], rng, 0.5) as tf.Tensor2D;
        const b = randomTensor([GH], rng, 0.5) as tf.Tensor1D;
        const R = randomTensor([kind === 'lstm' ? T + 1 : T, B, H], rng);
        const loss = (inside: boolean) => (w: tf.Tensor) => {
          const x = inside ? w : tf.reshape(gatherRows(ids, w as tf.Tensor2D), [T, B, GH]);
          return tf.sum(tf.mul(fusedRecurrence(x as tf.Tensor3D, h0, c0, W, b, { kind, ...(inside ? { inputIds: ids } : {}) }), R));
        };
        const a = tf.valueAndGrad(loss(true))(Wih);
        const g = tf.valueAndGrad(loss(false))(Wih);
        expectAllClose(Array.from(a.grad.dataSync()), Array.from(g.grad.dataSync()), 1e-5);
        expect(Math.abs((a.value.dataSync()[0] as number) - (g.value.dataSync()[0] as number))).toBeLessThan(1e-4);
        expect(() => fusedRecurrence(Wih as tf.Tensor2D, h0, c0, W, b, { kind, inputIds: Int32Array.from([0, V]) })).toThrow(/ids do not split|outside the vocabulary/);
        expect(() => fusedRecurrence(Wih as tf.Tensor2D, h0, c0, W, b, { kind, inputIds: Int32Array.from([0, 1, V]) })).toThrow(/Token id 5 is outside the vocabulary of 5/);
        tf.dispose([Wih, h0, ...(c0 ? [c0] : []), W, b, R, a.value, a.grad, g.value, g.grad]);
      });
    }

    for (const [kind, resetAfter] of [['rnn', true], ['gru', true], ['gru', false], ['lstm', true]] as [CellKind, boolean][]) {
      it(`${kind}${kind === 'gru' ? (resetAfter ? ' (reset after)' : ' (d2l)') : ''}: inputBias inside equals adding b_ih outside, gradients included`, () => {
        const inside = run(kind, resetAfter, true, 7);
        const outside = run(kind, resetAfter, false, 7);
        expect(Math.abs(inside.value - outside.value)).toBeLessThan(1e-4 * Math.abs(outside.value) + 1e-5);
        inside.grads.forEach((g, i) => { expectAllClose(g, outside.grads[i] as number[], 1e-4); });
      });
    }
  });
}
