import type { SimdKernels } from '@rnnkit/cells';

interface Lease {
  kernels: SimdKernels;
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
export class SavedRegion {
  private readonly lease: Lease;

  constructor(kernels: SimdKernels, offset: number) {
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
