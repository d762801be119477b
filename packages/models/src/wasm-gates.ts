import * as tf from '@tensorflow/tfjs-core';
import { GATES_WASM_BASE64 } from './gates-wasm.js';

/** The exports of assembly/gates.ts; every pointer is a byte offset into `memory`. */
interface GateExports {
  memory: WebAssembly.Memory;
  gruForward(x: number, gh: number, bx: number, bh: number, hPrev: number, hNext: number, acts: number, ex: number, B: number, H: number): void;
  gruBackward(acts: number, ex: number, hPrev: number, dh: number, dx: number, dg: number, dhPrev: number, dbx: number, dbh: number, B: number, H: number): void;
  add3(out: number, a: number, b: number, c: number, n: number): void;
  addRows(out: number, src: number, ids: number, n: number, N: number): void;
  transpose(out: number, src: number, rows: number, cols: number): void;
}

/**
 * The fused ops' element-wise gate work compiled to WebAssembly SIMD (four lanes, no bounds
 * checks; about 5x the plain JS loops). One module and one memory for the process: a fused op
 * copies its inputs in, runs, and copies what it keeps out, so calls never share live buffers.
 */
export class GateKernels {
  private constructor(readonly fn: GateExports) {}

  static create(): GateKernels {
    const bytes = Uint8Array.from(atob(GATES_WASM_BASE64), (c) => c.charCodeAt(0));
    // Synchronous compile is fine for a module this small (browsers allow it under 4 KB).
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    return new GateKernels(instance.exports as unknown as GateExports);
  }

  /** The memory as floats, grown to hold at least `floats`; views from before a grow are stale. */
  reserve(floats: number): Float32Array {
    const { memory } = this.fn;
    const need = floats * 4 - memory.buffer.byteLength;
    if (need > 0) memory.grow(Math.ceil(need / 65536));
    return new Float32Array(memory.buffer);
  }
}

let kernels: GateKernels | null | undefined;
let enabled = true;

/** The shared kernels, or null where WebAssembly SIMD is missing (the JS loops run instead). */
export function gateKernels(): GateKernels | null {
  if (!enabled) return null;
  if (kernels === undefined) {
    try {
      kernels = GateKernels.create();
    } catch {
      kernels = null;
    }
  }
  return kernels;
}

/** Turns the WebAssembly gate kernels off (false) or back on; for tests and A/B benchmarks. */
export function useWasmGates(on: boolean): void {
  enabled = on;
}

interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/** The wasm backend, whose tensors live in its heap and whose `write` copies its input. */
function heapBackend(): HeapBackend | null {
  const backend = tf.backend() as unknown as Partial<HeapBackend>;
  return typeof backend.typedArrayFromHeap === 'function' ? (backend as HeapBackend) : null;
}

/** Copies t's values to dst at offset, straight from the wasm heap where possible (no dataSync copy). */
export function readInto(t: tf.Tensor, dst: Float32Array, offset: number): void {
  const heap = heapBackend();
  dst.set(heap ? heap.typedArrayFromHeap(t) : (t.dataSync() as Float32Array), offset);
}

/** A 2-D tensor of `view`'s values; copies unless the backend copies on write (cpu keeps the array). */
export function tensorOfView(view: Float32Array, shape: [number, number]): tf.Tensor2D {
  return tf.tensor2d(heapBackend() ? view : view.slice(), shape);
}
