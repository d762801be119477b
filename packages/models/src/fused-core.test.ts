import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { activeKernels, type GradientsInKernels, type Kernels } from '@rnnkit/cells';
import { createRng } from '@rnnkit/data';
import { FusedCore, layerSuffix } from './fused-core.js';
import { kernelRecurrence } from './fused/kernel-recurrence.js';
import { RECURRENCES, recurrenceOf } from './fused/kinds.js';

const T = 5;
const B = 4;
const H = 8;
const V = 7;

/** The kernels' regions given out while `body` runs and not given back by its end. */
function regionsKept(k: Kernels, body: () => void): Set<number> {
  const kept = new Set<number>();
  const { alloc, release } = k;
  k.alloc = (size: number) => {
    const at = alloc.call(k, size);
    kept.add(at);
    return at;
  };
  k.release = (at: number) => {
    kept.delete(at);
    release.call(k, at);
  };
  try {
    body();
  } finally {
    k.alloc = alloc;
    k.release = release;
  }
  return kept;
}

describe("FusedCore's pass on the kernels, layer to layer", () => {
  beforeAll(() => useBackend('wasm'));

  it("gives back the room of every layer's hand-off when a lower layer's backward pass fails", () => {
    const k = activeKernels()!;
    const core = new FusedCore('lstm', { vocabSize: V, numHiddens: H, numLayers: 3, numDirections: 1, resetAfter: true }, createRng(3));
    const ids = Int32Array.from({ length: T * B }, (_, i) => (i * 3) % V);
    const state = Array.from({ length: 6 }, () => tf.zeros([B, H]) as tf.Tensor2D);
    const run = core.runOnKernels(k, ids, T, B, state)!;
    expect(run).not.toBeNull();
    const dyAt = k.alloc((T + 1) * B * H);
    k.f32.fill(0.5, dyAt, dyAt + (T + 1) * B * H);
    // The middle layer's room is missing: its pass fails after the top one handed it its dy.
    const stubs = new Set<number>();
    const middle = new Set(
      Object.entries(core.namedVariables())
        .filter(([key]) => key.endsWith(layerSuffix(1, 0)))
        .map(([, v]) => v.name),
    );
    expect(middle.size).toBe(4);
    const grads = {
      offsetOf(name: string): number {
        if (middle.has(name)) throw new Error(`no room for ${name}`);
        const at = k.alloc(4 * H * H + V * 4 * H);
        stubs.add(at);
        return at;
      },
    } as unknown as GradientsInKernels;
    const kept = regionsKept(k, () => expect(() => run.backward(dyAt, grads)).toThrow('no room for'));
    // Rooms the stub gave out are the test's; every other region the backward pass took went back.
    expect([...kept].filter((at) => !stubs.has(at))).toEqual([]);
    expect(stubs.size).toBe(4);
    for (const at of stubs) k.release(at);
    tf.dispose([...state, ...run.state]);
    k.release(dyAt);
  });

  it('refuses inputs from two places, and room for an input gradient a pass does not have', () => {
    const k = activeKernels()!;
    const spec = RECURRENCES[recurrenceOf('gru', true)];
    const rng = createRng(5);
    const W = tf.randomUniform([H, 3 * H], -0.5, 0.5, 'float32', rng.next()) as tf.Tensor2D;
    const Wih = tf.randomUniform([V, 3 * H], -0.5, 0.5, 'float32', rng.next()) as tf.Tensor2D;
    const b = tf.zeros([3 * H]) as tf.Tensor1D;
    const h0 = tf.zeros([B, H]) as tf.Tensor2D;
    const ids = Int32Array.from({ length: T * B }, (_, i) => i % V);
    const base = { spec, T, B, H, xp: Wih, ids, xin: null, state: [h0], W, b, bx: b, keep: true };
    expect(() => kernelRecurrence(k, { ...base, xinAt: { at: 4, I: H } })).toThrow('xinAt takes the place of ids and xin');
    const pass = kernelRecurrence(k, base);
    const room = k.alloc(H * 3 * H + V * 3 * H + 2 * 3 * H + T * B * H);
    const dy = tf.ones([T, B, H]);
    const into = { dxp: room, dW: room + V * 3 * H, db: room + (V + H) * 3 * H, dbx: room + (V + H + 1) * 3 * H };
    try {
      expect(() => pass.gradInto(dy, { ...into, dxin: room })).toThrow("room for the dense inputs' gradient, but the pass has none");
    } finally {
      pass.packed.dispose();
      // The pass's own region goes back with its gradient.
      pass.gradInto(dy, into);
      k.release(room);
      tf.dispose([W, Wih, b, h0, dy]);
    }
  });
});
