import * as tf from '@tensorflow/tfjs-core';
import {
  KERNELS_RELAXED_SHARED_WASM_BASE64,
  KERNELS_RELAXED_WASM_BASE64,
  KERNELS_SHARED_MAX_PAGES,
  KERNELS_SHARED_WASM_BASE64,
  KERNELS_WASM_BASE64,
  type KernelExports,
} from './simd-module.generated.js';
import { type KernelCalls, KernelPool, kernelThreads, kernelThreadsForced, onKernelThreadsChange } from './threads.js';

/**
 * rnnkit's kernels: one WebAssembly SIMD module (assembly/kernels.ts: the recurrences' gate work,
 * the dense head's softmax cross-entropy, the one-pass optimizer updates, row gathers and a matmul
 * on packed panels; four lanes, no bounds checks; several times faster than plain JS loops),
 * loaded once, with its worker threads and a region allocator over its memory. One module and one memory for the process, shared by
 * every user: each takes regions of it with `alloc` and gives them back with `release`. What a
 * forward pass saves for its backward pass stays there, uncopied.
 */
export class Kernels {
  /** Free regions (offset and size in floats), sorted by offset; everything from `top` up is free. */
  private readonly freeList: { offset: number; size: number }[] = [];
  private readonly sizes = new Map<number, number>();
  // Offset 0 is add3's "no third operand", so regions start after the first 16 bytes.
  private top = 4;
  private view: Float32Array;

  /**
   * Whether `gemm` forms the weight gradient of a whole sequence (with the bias gradient as one
   * more row of the product), rather than the backend's matmul. True by default, whatever the
   * thread count, so that the gradients' bits do not depend on it (XNNPACK sums in another
   * order). Tests flip it to check the other path.
   */
  weightGradientGemm: boolean;

  private constructor(
    readonly fn: KernelExports,
    /** Built with relaxed SIMD (fused multiply-add in `gemm`). */
    readonly relaxed: boolean,
    /** Worker threads over this module's (shared) memory; null on one thread. */
    readonly pool: KernelPool | null,
    /** The module's functions by a job's command index (their names in order). */
    private readonly byIndex: ((...args: number[]) => void)[],
  ) {
    this.view = new Float32Array(fn.memory.buffer);
    this.weightGradientGemm = true;
  }

  /**
   * Compiles the module synchronously (Node; browsers refuse this on their main thread). With
   * `threads` above 1 (default: `kernelThreads()`) and shared memory at hand, the module runs over
   * a shared memory and starts `threads - 1` workers on it.
   */
  static create(threads = kernelThreads()): Kernels {
    const m = moduleSetup(threads);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(m.bytes), { env: { memory: m.memory } });
    return Kernels.over(instance, m, threads);
  }

  static async createAsync(threads = kernelThreads()): Promise<Kernels> {
    const m = moduleSetup(threads);
    const { instance } = await WebAssembly.instantiate(m.bytes, { env: { memory: m.memory } });
    return Kernels.over(instance, m, threads);
  }

  private static over(instance: WebAssembly.Instance, m: ModuleSetup, threads: number): Kernels {
    const fn = instance.exports as unknown as KernelExports;
    const names = Object.keys(fn)
      .filter((name) => name !== 'memory')
      .sort();
    const pool = m.shared ? KernelPool.start(m.bytes, m.memory, names, threads) : null;
    const byIndex = names.map((name) => (fn as unknown as Record<string, (...args: number[]) => void>)[name] as (...args: number[]) => void);
    return new Kernels(fn, m.relaxed, pool, byIndex);
  }

  /** Threads a pass may split its work over now: the workers that have started, and the caller. */
  get threads(): number {
    return this.pool?.ready ? this.pool.threads : 1;
  }

  /**
   * Runs `body` once per chunk of `runs` ([start, end) pairs): on this thread with the module's
   * own functions, or, with worker threads, recorded as one job whose chunks this thread and the
   * workers claim one at a time (give about twice as many chunks as threads, so that a late
   * worker's share is taken by the others). The body must only make kernel calls, and no reads of
   * what they write: recorded calls run after the body returns. Returns when all have run.
   * `work` (about the multiply-adds, or the floats moved, of the whole job) keeps a job too small to
   * gain from threads on this one: below `SPLIT_MIN_WORK` always, and below `WAKE_MIN_WORK` while
   * the workers sleep (waking one costs more than such a job), unless the thread count was set
   * (`kernelThreadsForced`). Either way the chunks and so the results are the same.
   */
  split(runs: [number, number][], body: (fn: KernelCalls, start: number, end: number) => void, work = Number.POSITIVE_INFINITY): void {
    const pool = this.pool;
    if (
      pool &&
      runs.length > 1 &&
      pool.ready &&
      worthSplitting(work, pool) &&
      pool.run(runs.length, (i, calls) => body(calls, ...(runs[i] as [number, number])), this.byIndex)
    )
      return;
    // The same chunks in turn on this thread: the same arithmetic, so the same bits.
    for (const [start, end] of runs) body(this.fn, start, end);
  }

  /**
   * Runs `body` once per chunk of `runs` as `split` does, but in the background: with worker
   * threads, the chunks are posted to their background lane and this returns at once; workers
   * between jobs run them (in any order, at once) while this thread goes on. Without workers they
   * run now. No chunk may read what another writes. What they read must stay, and what they write
   * must not be read (nor its region released), until `join` returns.
   */
  post(runs: [number, number][], body: (fn: KernelCalls, start: number, end: number) => void): void {
    const pool = this.pool;
    if (pool?.ready && pool.post(runs.length, (i, calls) => body(calls, ...(runs[i] as [number, number])))) return;
    for (const [start, end] of runs) body(this.fn, start, end);
  }

  /** Whether `post` runs its chunks now, in order, on this thread (no workers started). */
  get postsInline(): boolean {
    return !this.pool?.ready;
  }

  /** Returns once everything `post`ed has run, running what is left on this thread. */
  join(): void {
    this.pool?.join(this.byIndex);
  }

  /** Stops the worker threads (the module itself goes with its last reference). */
  close(): void {
    this.pool?.close();
  }

  /** The memory as floats. An `alloc` may grow (and so detach) it: read this again after one. */
  get f32(): Float32Array {
    if (this.view.buffer !== this.fn.memory.buffer) this.view = new Float32Array(this.fn.memory.buffer);
    return this.view;
  }

  /** A region of `floats` floats (16-byte aligned, contents undefined); returns its offset in floats. */
  alloc(floats: number): number {
    const size = Math.max(4, Math.ceil(floats / 4) * 4);
    let offset = -1;
    const i = this.freeList.findIndex((r) => r.size >= size);
    if (i >= 0) {
      const r = this.freeList[i] as { offset: number; size: number };
      offset = r.offset;
      if (r.size === size) this.freeList.splice(i, 1);
      else Object.assign(r, { offset: r.offset + size, size: r.size - size });
    } else {
      offset = this.top;
      this.top += size;
      const need = this.top * 4 - this.fn.memory.buffer.byteLength;
      if (need > 0) this.fn.memory.grow(Math.ceil(need / 65536));
    }
    this.sizes.set(offset, size);
    return offset;
  }

  /**
   * One region holding the named buffers back to back (sizes in floats, each rounded up to whole
   * 16-byte lanes): their offsets, and the region's for `release`.
   */
  allocLayout<K extends string>(sizes: Record<K, number>): Record<K, number> & { region: number } {
    const lanes = (n: number) => Math.ceil(n / 4) * 4;
    const entries = Object.entries(sizes) as [K, number][];
    const region = this.alloc(entries.reduce((total, [, n]) => total + lanes(n), 0));
    const offsets = { region } as Record<K, number> & { region: number };
    let at = region;
    for (const [name, n] of entries) {
      (offsets as Record<string, number>)[name] = at;
      at += lanes(n);
    }
    return offsets;
  }

  /** Gives a region back; adjacent free regions merge, and the topmost returns to the top. */
  release(offset: number): void {
    const size = this.sizes.get(offset);
    if (size === undefined) throw new Error(`Kernels.release: no region at ${offset} (released twice?).`);
    this.sizes.delete(offset);
    let i = this.freeList.findIndex((r) => r.offset > offset);
    if (i < 0) i = this.freeList.length;
    this.freeList.splice(i, 0, { offset, size });
    const next = this.freeList[i + 1];
    const cur = this.freeList[i] as { offset: number; size: number };
    if (next && cur.offset + cur.size === next.offset) {
      cur.size += next.size;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev && prev.offset + prev.size === cur.offset) {
      prev.size += cur.size;
      this.freeList.splice(i, 1);
    }
    const last = this.freeList[this.freeList.length - 1];
    if (last && last.offset + last.size === this.top) {
      this.top = last.offset;
      this.freeList.pop();
    }
  }

  /** Floats in use (for leak tests). */
  get inUse(): number {
    let n = 0;
    for (const size of this.sizes.values()) n += size;
    return n;
  }
}

/**
 * Below this much work (multiply-adds, or floats moved) a job runs on the calling thread: a
 * hand-off to spinning workers costs a few microseconds. Measured on the project's 2-vCPU machine:
 * see the cells README.
 */
export const SPLIT_MIN_WORK = 1 << 18;

/** Below this much work a job does not wake sleeping workers (a wake-up costs 50-300 µs). */
export const WAKE_MIN_WORK = 1 << 23;

function worthSplitting(work: number, pool: KernelPool): boolean {
  if (kernelThreadsForced()) return true;
  if (work < SPLIT_MIN_WORK) return false;
  return work >= WAKE_MIN_WORK || pool.asleep === 0;
}

const decode = (base64: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

interface ModuleSetup {
  bytes: Uint8Array<ArrayBuffer>;
  relaxed: boolean;
  shared: boolean;
  memory: WebAssembly.Memory;
}

/**
 * The relaxed-SIMD build where the engine validates it (fused multiply-add), else the plain one;
 * over a shared memory when more than one thread is asked for and the engine can share one.
 */
function moduleSetup(threads: number): ModuleSetup {
  const sharedMemory = threads > 1 ? newSharedMemory() : null;
  const shared = sharedMemory !== null;
  const relaxedBytes = decode(shared ? KERNELS_RELAXED_SHARED_WASM_BASE64 : KERNELS_RELAXED_WASM_BASE64);
  const relaxed = WebAssembly.validate(relaxedBytes);
  return {
    bytes: relaxed ? relaxedBytes : decode(shared ? KERNELS_SHARED_WASM_BASE64 : KERNELS_WASM_BASE64),
    relaxed,
    shared,
    memory: sharedMemory ?? new WebAssembly.Memory({ initial: 1 }),
  };
}

/** A shared memory for the shared builds, or null where this runtime cannot make one (one thread then). */
function newSharedMemory(): WebAssembly.Memory | null {
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: KERNELS_SHARED_MAX_PAGES, shared: true });
  } catch {
    return null;
  }
}

let kernels: Kernels | null | undefined;
let enabled = true;

/**
 * The kernels the fused ops run on, or null where they do not and the JS loops or TensorFlow.js
 * ops run instead: turned off (`useKernels(false)`), where WebAssembly SIMD is missing, and in a
 * browser's main thread until the asynchronous compile this starts has finished (main threads
 * refuse to compile modules over 4 KB synchronously).
 */
export function activeKernels(): Kernels | null {
  return enabled ? processKernels() : null;
}

/** Why `activeKernels()` is null now, or null when they run: for the step's report of its path. */
export function kernelsUnavailableReason(): string | null {
  if (!enabled) return 'turned off (useKernels(false))';
  if (processKernels()) return null;
  return typeof WebAssembly === 'object' ? 'not loaded yet, or no WebAssembly SIMD in this engine' : 'no WebAssembly in this engine';
}

/**
 * The one instance of the kernels in this thread, whether or not the fused ops use them
 * (`useKernels`): the fused ops and the wasm backend's BatchMatMul share its memory and its
 * worker threads.
 */
export function processKernels(): Kernels | null {
  if (kernels === undefined) {
    try {
      kernels = Kernels.create();
    } catch {
      kernels = null;
      Kernels.createAsync().then(
        (k) => {
          if (kernels === null) kernels = k;
          else k.close();
        },
        () => undefined, // no WebAssembly SIMD: stay on the JS loops
      );
    }
  }
  return kernels;
}

/**
 * Turns rnnkit's kernels off for the fused ops (false: the recurrence runs its JS loops, the dense
 * head and loss, the clipping and the optimizer update their TensorFlow.js ops) or back on, for
 * tests and A/B benchmarks. The wasm backend's replaced BatchMatMul keeps them. Turning them on
 * again starts a fresh module with an empty memory.
 */
export function useKernels(on: boolean): void {
  if (on && !enabled) {
    kernels?.close();
    kernels = undefined;
  }
  enabled = on;
}

/** @deprecated Renamed `Kernels` (0.2.0). */
export const SimdKernels = Kernels;
/** @deprecated Renamed `Kernels` (0.2.0). */
export type SimdKernels = Kernels;
/** @deprecated Renamed `activeKernels` (0.2.0). */
export const simdKernels = activeKernels;
/** @deprecated Renamed `useKernels` (0.2.0): it switches every fused op's kernels, not only the gates. */
export const useWasmGates = useKernels;

// A new thread count starts the shared kernels again, with that many threads.
onKernelThreadsChange(() => {
  kernels?.close();
  kernels = undefined;
});

/** What the wasm backend offers for reading its tensors where they are. */
export interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/** The wasm backend, whose tensors live in its heap and whose `write` copies its input; null on others. */
export function heapBackend(): HeapBackend | null {
  const backend = tf.backend() as unknown as Partial<HeapBackend>;
  return typeof backend.typedArrayFromHeap === 'function' ? (backend as HeapBackend) : null;
}

/** Copies t's values to dst at offset, straight from the wasm heap where possible (no dataSync copy). */
export function readInto(t: tf.Tensor, dst: Float32Array, offset: number): void {
  const heap = heapBackend();
  dst.set(heap ? heap.typedArrayFromHeap(t) : (t.dataSync() as Float32Array), offset);
}

/**
 * A tensor of `view`'s values; copies unless the backend copies on write (cpu keeps the array).
 * The copy is a `set`: `slice` of a shared memory's view is several times slower in V8.
 */
export function tensorOfView<R extends tf.Rank>(view: Float32Array, shape: tf.ShapeMap[R]): tf.Tensor<R> {
  if (heapBackend()) return tf.tensor(view, shape) as tf.Tensor<R>;
  const copy = new Float32Array(view.length);
  copy.set(view);
  return tf.tensor(copy, shape) as tf.Tensor<R>;
}
