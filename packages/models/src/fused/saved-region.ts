import type * as tf from '@tensorflow/tfjs-core';
import type { Kernels } from '@rnnkit/cells';

interface Lease {
  kernels: Kernels;
  offset: number;
  released: boolean;
}

function releaseLease(lease: Lease): void {
  if (!lease.released) lease.kernels.release(lease.offset);
  lease.released = true;
}

const leases = new FinalizationRegistry<Lease>(releaseLease);

/**
 * A region of the kernels' memory that a forward pass keeps for its backward pass (what it saved
 * stays there, uncopied). The backward pass releases it; where none comes, it is released once the
 * gradient function holding this object is garbage-collected.
 */
class SavedRegion {
  private readonly lease: Lease;

  constructor(kernels: Kernels, offset: number) {
    this.lease = { kernels, offset, released: false };
    leases.register(this, this.lease, this);
  }

  get released(): boolean {
    return this.lease.released;
  }

  release(): void {
    leases.unregister(this);
    releaseLease(this.lease);
  }
}

/**
 * The gradient function of a pass that saved `offset` for its backward pass: `backward` run once,
 * the region released after it (or after it threw). Where no backward pass can follow (`keep`
 * false) the region goes at once and the function only throws. `op` names the op in the errors.
 */
export function gradientOfSaved<G, D = tf.Tensor>(kernels: Kernels, offset: number, keep: boolean, op: string, backward: (dy: D) => G): (dy: D) => G {
  if (!keep) {
    kernels.release(offset);
    return () => {
      throw new Error(`${op}: this pass ran without a gradient tape.`);
    };
  }
  const region = new SavedRegion(kernels, offset);
  return (dy) => {
    if (region.released) throw new Error(`${op}: this pass has already been differentiated once.`);
    try {
      return backward(dy);
    } finally {
      region.release(); // also when it throws: what it saved may be half overwritten
    }
  };
}
