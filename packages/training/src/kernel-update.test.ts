import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../test/backends.js';
import { createRng } from '@rnnkit/data';
import { activeKernels, useKernels, watchOpPaths, type Kernels } from '@rnnkit/cells';
import { clipGradsByGlobalNorm } from './clip.js';
import { clippedUpdateOnKernels } from './kernel-update.js';
import { applyClippedGradients } from './step.js';

/** Variables of several shapes (one not in whole lanes) and gradients for them, seeded. */
function setup(gradScale: number) {
  const rng = createRng(11);
  const random = (shape: number[], scale: number) =>
    tf.tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (2 * rng.next() - 1) * scale),
      shape,
    );
  const shapes: number[][] = [[16, 12], [12], [5, 7], [3]];
  const variables = shapes.map((shape) => {
    const initial = random(shape, 1);
    const v = tf.variable(initial);
    initial.dispose();
    return v;
  });
  const grads: tf.NamedTensorMap = Object.fromEntries(variables.map((v, i) => [v.name, random(shapes[i] as number[], gradScale)]));
  return { variables, grads };
}

/** Norm and updated values from one clipped SGD step, by `step`. */
function stepWith(gradScale: number, step: (grads: tf.NamedTensorMap, optimizer: tf.Optimizer) => number) {
  const { variables, grads } = setup(gradScale);
  const optimizer = tf.train.sgd(0.5);
  const norm = step(grads, optimizer);
  const values = variables.map((v) => Array.from(v.dataSync()));
  const iterations = optimizer.iterations;
  tf.dispose([...variables, ...Object.values(grads)]);
  optimizer.dispose();
  return { norm, values, iterations };
}

/** TensorFlow.js's own: clipGradsByGlobalNorm, then the optimizer's applyGradients. */
function tfjsStep(grads: tf.NamedTensorMap, optimizer: tf.Optimizer): number {
  const clipped = clipGradsByGlobalNorm(grads, 1);
  optimizer.applyGradients(clipped.grads);
  const norm = clipped.norm.dataSync()[0] as number;
  tf.dispose([clipped.norm, clipped.grads]);
  return norm;
}

for (const backend of TEST_BACKENDS) {
  describe(`clippedUpdateOnKernels on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterEach(() => useKernels(true));

    // Scale 2 puts the norm far above theta 1 (clipped), 0.01 below it (unclipped).
    for (const gradScale of [2, 0.01]) {
      it(`equals clipGradsByGlobalNorm then SGD's applyGradients (gradients x ${gradScale})`, () => {
        const before = tf.memory().numTensors;
        const k = activeKernels() as Kernels;
        const inUse = k.inUse;
        const fused = stepWith(gradScale, (g, o) => clippedUpdateOnKernels(g, o, 1) as number);
        expect(k.inUse).toBe(inUse);
        const reference = stepWith(gradScale, tfjsStep);
        expect(gradScale > 1 ? fused.norm > 1 : fused.norm < 1).toBe(true);
        expect(Math.abs(fused.norm - reference.norm)).toBeLessThan(1e-6 * reference.norm);
        expect(fused.iterations).toBe(1);
        expect(reference.iterations).toBe(1);
        fused.values.forEach((values, i) => {
          const ref = reference.values[i] as number[];
          values.forEach((v, j) => {
            expect(Math.abs(v - (ref[j] as number))).toBeLessThan(1e-6 * (1 + Math.abs(ref[j] as number)));
          });
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    it('declines what it does not do: other optimizers, no kernels (the caller then runs the tfjs ops)', () => {
      const { variables, grads } = setup(1);
      const before = variables.map((v) => Array.from(v.dataSync()));
      // A subclass of SGD may do more in its applyGradients (a schedule, say): it keeps it.
      class ScheduledSgd extends tf.SGDOptimizer {}
      for (const optimizer of [tf.train.momentum(0.5, 0.9), tf.train.adam(0.1), new ScheduledSgd(0.5)]) {
        expect(clippedUpdateOnKernels(grads, optimizer, 1)).toBeNull();
        optimizer.dispose();
      }
      const plain = tf.train.sgd(0.5);
      const withNull = { ...grads, [variables[0]!.name]: null } as unknown as tf.NamedTensorMap;
      expect(clippedUpdateOnKernels(withNull, plain, 1)).toBeNull(); // tf's applyGradients skips it
      plain.dispose();
      useKernels(false);
      const sgd = tf.train.sgd(0.5);
      expect(clippedUpdateOnKernels(grads, sgd, 1)).toBeNull();
      sgd.dispose();
      expect(variables.map((v) => Array.from(v.dataSync()))).toEqual(before);
      tf.dispose([...variables, ...Object.values(grads)]);
    });

    it('reports the path it took, and why it declined', () => {
      const { variables, grads } = setup(1);
      const momentum = tf.train.momentum(0.5, 0.9);
      expect(watchOpPaths(() => clippedUpdateOnKernels(grads, momentum, 1)).paths).toEqual([
        { op: 'clippedUpdate', kernels: false, reason: 'the optimizer is Momentum, not plain SGD' },
      ]);
      useKernels(false);
      const sgd = tf.train.sgd(0.5);
      expect(watchOpPaths(() => clippedUpdateOnKernels(grads, sgd, 1)).paths).toEqual([
        { op: 'clippedUpdate', kernels: false, reason: 'turned off (useKernels(false))' },
      ]);
      tf.dispose([...variables, ...Object.values(grads)]);
      momentum.dispose();
      sgd.dispose();
    });

    it('is what applyClippedGradients runs for plain SGD with a theta, freeing the gradients', () => {
      const before = tf.memory().numTensors;
      const viaStep = stepWith(2, (g, o) => applyClippedGradients(g, o, 1));
      const fused = stepWith(2, (g, o) => clippedUpdateOnKernels(g, o, 1) as number);
      expect(viaStep).toEqual(fused);
      expect(tf.memory().numTensors).toBe(before);
      expect(() => stepWith(2, (g, o) => applyClippedGradients(g, o, 0))).toThrow(/theta must be > 0/);
    });
  });
}
