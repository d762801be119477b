import type * as tf from '@tensorflow/tfjs-core';
import { tensorOfView, type Kernels } from './simd.js';

/**
 * Gradients that a model's passes left in the kernels' memory, for an update that runs there too
 * (`@rnnkit/training`'s clipped SGD and Adam): each variable's gradient, in the variables' order,
 * back to back in one region from `at` (offsets in floats), until `release`. Where the update is
 * another, `toTensors` gives them as `tf.variableGrads` would.
 */
export class GradientsInKernels {
  /** Where the block starts, and its floats (every gradient's). */
  readonly at: number;
  readonly size: number;
  private readonly offsets = new Map<string, number>();
  /** The variables whose room `offsetOf` gave out (so a gradient was written there). */
  private readonly placed = new Set<string>();
  private released = false;

  /** Room for the gradients of `variables`, in their order; `offsetOf` gives where each goes. */
  constructor(
    readonly kernels: Kernels,
    readonly variables: readonly tf.Variable[],
  ) {
    this.size = variables.reduce((sum, v) => sum + v.size, 0);
    this.at = kernels.alloc(this.size);
    let at = this.at;
    for (const v of variables) {
      this.offsets.set(v.name, at);
      at += v.size;
    }
  }

  /** Where the gradient of the variable named `name` goes (floats). */
  offsetOf(name: string): number {
    const at = this.offsets.get(name);
    if (at === undefined) throw new Error(`GradientsInKernels: no room for a gradient of ${name}.`);
    this.placed.add(name);
    return at;
  }

  /** Throws where a variable's room was never given out: its gradient would be whatever was there. */
  checkAllPlaced(): void {
    const missing = this.variables.filter((v) => !this.placed.has(v.name)).map((v) => v.name);
    if (missing.length > 0) throw new Error(`GradientsInKernels: no gradient was written for ${missing.join(', ')} (its room was never asked for).`);
  }

  /** The gradients as tensors by variable name (copies, which the caller disposes). */
  toTensors(): tf.NamedTensorMap {
    this.check();
    const grads: tf.NamedTensorMap = {};
    for (const v of this.variables) {
      const at = this.offsets.get(v.name) as number;
      grads[v.name] = tensorOfView(this.kernels.f32.subarray(at, at + v.size), v.shape);
    }
    return grads;
  }

  /** Gives the region back (once; later calls do nothing). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.kernels.release(this.at);
  }

  get isReleased(): boolean {
    return this.released;
  }

  private check(): void {
    if (this.released) throw new Error('GradientsInKernels: these gradients were released.');
  }
}
