import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../test/backends.js';
import { createRng } from '@rnnkit/data';
import { activeKernels, GradientsInKernels, readInto, useKernels, watchOpPaths, type Kernels } from '@rnnkit/cells';
import { clipGradsByGlobalNorm } from './clip.js';
import { clippedUpdateOnKernels } from './kernel-update.js';
import { applyClippedGradients } from './step.js';

/** What `getWeights` returns: named tensors. */
type NamedWeight = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

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

    it("takes gradients a model left in the kernels' memory: the bits of the same update from tensors (SGD, Adam), released after; another optimizer gets them as tensors", () => {
      const k = activeKernels() as Kernels;
      const optimizers = [() => tf.train.sgd(0.5), () => tf.train.adam(0.01), () => tf.train.adagrad(0.1)];
      for (const [i, make] of optimizers.entries()) {
        const run = (inKernels: boolean) => {
          const { variables, grads } = setup(2);
          const optimizer = make();
          let source: tf.NamedTensorMap | GradientsInKernels = grads;
          if (inKernels) {
            const block = new GradientsInKernels(k, variables);
            for (const v of variables) readInto(grads[v.name] as tf.Tensor, k.f32, block.offsetOf(v.name));
            tf.dispose(Object.values(grads));
            source = block;
          }
          const { result: norms, paths } = watchOpPaths(() => {
            const first = applyClippedGradients(source, optimizer, 1);
            if (source instanceof GradientsInKernels) {
              expect(source.isReleased).toBe(true);
              expect(() => applyClippedGradients(source, optimizer, 1)).toThrow(/were released/);
            }
            // A second update from tensors, so that Adam's moments and powers carry over.
            const { variables: others, grads: again } = setup(0.5);
            tf.dispose(others);
            const renamed = Object.fromEntries(variables.map((v, j) => [v.name, Object.values(again)[j] as tf.Tensor]));
            return [first, applyClippedGradients(renamed, optimizer, 1)];
          });
          const onKernels = paths.some((p) => p.op === 'clippedUpdate' && p.kernels);
          const values = variables.map((v) => Array.from(v.dataSync()));
          tf.dispose(variables);
          optimizer.dispose();
          return { norms, values, onKernels };
        };
        const inUse = k.inUse;
        const before = tf.memory().numTensors;
        const fromKernels = run(true);
        expect(fromKernels).toEqual(run(false));
        expect(fromKernels.onKernels).toBe(i < 2);
        expect(k.inUse).toBe(inUse);
        expect(tf.memory().numTensors).toBe(before);
      }
    });

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
      class ScheduledAdam extends tf.AdamOptimizer {}
      for (const optimizer of [tf.train.momentum(0.5, 0.9), tf.train.rmsprop(0.1), new ScheduledSgd(0.5), new ScheduledAdam(0.1, 0.9, 0.999, 1e-8)]) {
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

    // Adam on the kernels is TensorFlow.js's Adam bit for bit: three steps (the moments start at
    // zero, then carry), unclipped, and clipped with the scale the kernels' norm gives (the norm
    // itself is summed in double precision, TensorFlow.js's in float32).
    for (const gradScale of [0.01, 2]) {
      it(`Adam: three steps equal tf.train.adam's applyGradients bit for bit, moments and beta powers included (gradients x ${gradScale})`, () => {
        const before = tf.memory().numTensors;
        const run = (onKernels: boolean) => {
          const { variables, grads } = setup(gradScale);
          const optimizer = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
          const norms: number[] = [];
          for (let step = 0; step < 3; step++) {
            if (onKernels) {
              const { result, paths } = watchOpPaths(() => clippedUpdateOnKernels(grads, optimizer, 1));
              expect(paths).toEqual([{ op: 'clippedUpdate', kernels: true }]);
              norms.push(result as number);
            } else {
              // The clipping TensorFlow.js's way with the kernels' norm, then tf's own Adam.
              const normOnly = tf.train.sgd(0); // lr 0: the kernels' norm, the variables unchanged
              const norm = clippedUpdateOnKernels(grads, normOnly, undefined) as number;
              normOnly.dispose();
              const scale = Math.fround(1 / Math.max(norm, 1));
              const clipped: tf.NamedTensorMap = tf.tidy(() =>
                Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, tf.mul(g as tf.Tensor, tf.scalar(scale))])),
              );
              optimizer.applyGradients(clipped as never); // tfjs types it as a map of variables; gradients are tensors
              tf.dispose(Object.values(clipped));
              norms.push(norm);
            }
          }
          const internals = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
          const out = {
            norms,
            values: variables.map((v) => Array.from(v.dataSync())),
            state: optimizer.getWeights(),
            powers: [internals.accBeta1.dataSync()[0], internals.accBeta2.dataSync()[0]],
            iterations: optimizer.iterations,
          };
          const names = variables.map((v) => v.name);
          return {
            out,
            names,
            dispose: () => {
              tf.dispose([...variables, ...Object.values(grads)]);
              optimizer.dispose();
            },
          };
        };
        const fused = run(true);
        const reference = run(false);
        expect(fused.out.norms).toEqual(reference.out.norms);
        expect(gradScale > 1 ? (fused.out.norms[0] as number) > 1 : (fused.out.norms[0] as number) < 1).toBe(true);
        expect(fused.out.values).toEqual(reference.out.values);
        expect(fused.out.powers).toEqual(reference.out.powers);
        expect(fused.out.iterations).toBe(3);
        expect(reference.out.iterations).toBe(3);
        return Promise.all([fused.out.state, reference.out.state]).then(([a, b]) => {
          // Named after each run's own variables, as tf names them: "<variable>/m", "<variable>/v".
          const suffixes = (ws: NamedWeight[]) => ws.map((w) => w.name.replace(/^.*\//, ''));
          expect(suffixes(a)).toEqual(suffixes(b));
          expect(a.slice(1, 5).map((w) => w.name)).toEqual(fused.names.map((n) => `${n}/m`));
          a.forEach((w, i) => {
            expect(Array.from(w.tensor.dataSync())).toEqual(Array.from((b[i] as NamedWeight).tensor.dataSync()));
          });
          fused.dispose();
          reference.dispose();
          tf.dispose([(a[0] as NamedWeight).tensor, (b[0] as NamedWeight).tensor]); // getWeights' iteration count
          expect(tf.memory().numTensors).toBe(before);
        });
      });
    }

    it('reports the path it took, and why it declined', () => {
      const { variables, grads } = setup(1);
      const momentum = tf.train.momentum(0.5, 0.9);
      expect(watchOpPaths(() => clippedUpdateOnKernels(grads, momentum, 1)).paths).toEqual([
        { op: 'clippedUpdate', kernels: false, reason: 'the optimizer is Momentum, not plain SGD or Adam' },
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
