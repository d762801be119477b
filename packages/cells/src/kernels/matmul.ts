import * as tf from '@tensorflow/tfjs-core';
import type { Kernels } from './simd.js';
import { splitRows, type KernelCalls } from './threads.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** What the wasm backend offers a kernel: its tensors live in its heap. */
interface WasmHeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  refCount(dataId: object): number;
}

interface Packed {
  offset: number;
  floats: number;
  /** B's batches, K and N as packed: a tensor sharing the dataId in another shape (a reshape) is another operand. */
  shape: string;
  /** The other tensors a stacked operand was packed from (its key is the first one's). */
  with?: object[];
}

/** How a kept operand was packed: B as is, B transposed, or a stack of B operands (`runAffine`'s). */
const PLAIN = 0;
const TRANSPOSED = 1;
const STACKED = 2;
type Layout = typeof PLAIN | typeof TRANSPOSED | typeof STACKED;

function sameTensors(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((id, i) => b[i] === id);
}

/** A transposed B of at least this many floats of panels is kept from its first use (a 256 x 256 weight's). */
const KEEP_AT_ONCE_FLOATS = 1 << 16;

/**
 * B operands already in gemm's panels, kept while their tensor lives. A weight is multiplied many
 * times per training step (the scratch GRU-512 multiplies each W_h* by 35 hidden states forward,
 * and by 35 gate gradients transposed backward), and a tensor's values never change, so its
 * panels are packed once and reused. A stack (always weights) and a transposed B of at least
 * `KEEP_AT_ONCE_FLOATS` padded panel floats (most often a weight in a matmul's input gradient) are
 * kept from their first use; others from their third (a gradient used once or twice is not:
 * keeping costs more than the packing it saves). Entries go when their tensor is freed, and the
 * oldest go past `maxFloats`; a tensor sharing the data in another shape is another operand.
 */
class PackedOperands {
  /** By dataId, one map per `Layout`. Map order is use order: the first entry is the oldest. */
  private readonly entries = [new Map<object, Packed>(), new Map<object, Packed>(), new Map<object, Packed>()];
  private readonly seen = [new WeakMap<object, number>(), new WeakMap<object, number>(), new WeakMap<object, number>()];
  private floats = 0;

  constructor(
    private readonly k: Kernels,
    private readonly maxFloats: number,
  ) {}

  get keptFloats(): number {
    return this.floats;
  }

  /** The panels of `dataId` in `layout` and `shape` (for a stack, packed with exactly the tensors `others`). */
  get(dataId: object, layout: Layout, shape: string, others?: object[]): Packed | undefined {
    const map = this.entries[layout] as Map<object, Packed>;
    const p = map.get(dataId);
    if (p && (p.shape !== shape || !sameTensors(p.with ?? [], others ?? []))) return undefined;
    if (p) {
      map.delete(dataId);
      map.set(dataId, p);
    }
    return p;
  }

  /**
   * Whether to keep B's panels (`floats` of them): a stack's, or a large transposed B's, from the
   * first time they are seen (each of the scratch GRU's weights is one 35 times a step, and
   * packing a 512 x 512 weight takes 200-360 µs), others from the third (a gradient is B once or
   * twice at most, and a small B packs in a few microseconds).
   */
  worthKeeping(dataId: object, layout: Layout, floats: number): boolean {
    if (layout === STACKED || (layout === TRANSPOSED && floats >= KEEP_AT_ONCE_FLOATS)) return true;
    const seen = this.seen[layout] as WeakMap<object, number>;
    const times = (seen.get(dataId) ?? 0) + 1;
    if (times >= 3) return true;
    seen.set(dataId, times);
    return false;
  }

  add(dataId: object, layout: Layout, p: Packed, backend: WasmHeapBackend): void {
    this.sweep((id) => backend.refCount(id) === 0);
    const own = this.entries[layout] as Map<object, Packed>;
    if (own.has(dataId)) this.drop(own, dataId); // a stack of the same first tensor with others
    for (const map of this.entries) {
      for (const id of map.keys()) {
        if (this.floats + p.floats <= this.maxFloats) break;
        this.drop(map, id);
      }
    }
    own.set(dataId, p);
    this.floats += p.floats;
  }

  /** Gives back the panels of every tensor `gone` says was freed (a stack's, when any of its tensors was). */
  sweep(gone: (dataId: object) => boolean): void {
    for (const map of this.entries) {
      map.forEach((p, id) => {
        if (gone(id) || (p.with !== undefined && p.with.some(gone))) this.drop(map, id);
      });
    }
  }

  private drop(map: Map<object, Packed>, id: object): void {
    const p = map.get(id) as Packed;
    map.delete(id);
    this.k.release(p.offset);
    this.floats -= p.floats;
  }
}

/** What `GemmMatMul.product` multiplies; S names the scratch regions `fillA` uses besides A. */
interface ProductOperands<S extends string> {
  M: number;
  K: number;
  N: number;
  /** A's batches: `fillA` writes each (M, K) row-major at `temp.A + i * M * K`. */
  nA: number;
  /** Sizes in floats of the scratch regions `fillA` uses. */
  scratch: Record<S, number>;
  /** Writes A (row-major at temp.A where `rowMajor`; else only what `packA` reads, into the scratch regions). */
  fillA(f32: Float32Array, temp: Record<'A' | S, number>, rowMajor: boolean): void;
  /**
   * Optional, for one batch of A: packs its rows r0..r1 (r0 a multiple of 4) for the gemm
   * (`packRows`' layout at byte offset AP) straight from what `fillA` left in the scratch regions,
   * without A row-major in between.
   */
  packA?(fn: KernelCalls, temp: Record<S, number>, AP: number, r0: number, r1: number): void;
  /** B: the tensor its kept panels go by, their layout, B's batches, and a stack's other tensors. */
  B: { dataId: object; layout: Layout; count: number; with?: object[]; once?: boolean };
  /** Writes B's `count` batches from float offset `at`: (K, N) each, (N, K) in the TRANSPOSED layout. */
  fillB(f32: Float32Array, at: number): void;
  /** The products, and for each the batch of A and of B it multiplies. */
  batches: number;
  aIdx: Int32Array;
  bIdx: Int32Array;
  /** Copies product `i` (M rows of Np floats at float offset C) out of the kernels' memory. */
  copyOut(f32: Float32Array, C: number, Np: number, i: number): void;
}

/** A `copyOut` into `out`, the products' (M, N) one after the other. */
function intoTensor(backend: WasmHeapBackend, out: tf.TensorInfo, M: number, N: number): ProductOperands<string>['copyOut'] {
  return (f32, C, Np, i) => {
    const cHeap = backend.typedArrayFromHeap(out);
    if (Np === N) cHeap.set(f32.subarray(C, C + M * N), i * M * N);
    else for (let r = 0; r < M; r++) cHeap.set(f32.subarray(C + r * Np, C + r * Np + N), (i * M + r) * N);
  };
}

/**
 * `rows` x `cols` floats, row-major, transposed into the kernels' memory at float offset `dst`
 * (cols x rows): `parts` are their rows in order (one array, or a stack's), copied to `scratch`,
 * then the kernels' 4 x 4 block transpose where the sizes allow, else a plain loop.
 */
function transposeIn(k: Kernels, f32: Float32Array, parts: readonly Float32Array[], rows: number, cols: number, dst: number, scratch: number): void {
  copyIn(f32, parts, scratch);
  if (rows % 4 === 0 && cols % 4 === 0) k.fn.transpose(4 * dst, 4 * scratch, rows, cols);
  else for (let r = 0; r < cols; r++) for (let c = 0; c < rows; c++) f32[dst + r * rows + c] = f32[scratch + c * cols + r] as number;
}

/** `parts` one after another into the kernels' memory from float offset `at`. */
function copyIn(f32: Float32Array, parts: readonly Float32Array[], at: number): void {
  for (const part of parts) {
    f32.set(part, at);
    at += part.length;
  }
}

/**
 * Rows r0..r1 of A = [X H 1]^T (a weight gradient's first operand) packed for `gemmPacked` at
 * byte offset AP (A's row 0; r0 a multiple of 4), straight from `parts`' columns: [from, to, src],
 * A's rows from..to being the columns of the K-row matrix at float offset src, to - from wide.
 */
function packColumnParts(fn: KernelCalls, AP: number, K: number, parts: readonly (readonly [number, number, number])[], r0: number, r1: number): void {
  for (const [from, to, src] of parts) {
    const [a, b] = [Math.max(r0, from), Math.min(r1, to)];
    if (a < b) fn.packColumns(AP + 4 * a * K, 4 * (src + a - from), K, b - a, to - from);
  }
}

/** [X H 1]^T's rows as `packColumnParts` takes them: X's Kx columns, H's Kh, then the ones, at their float offsets. */
function xh1Parts(Kx: number, Kh: number, X: number, H: number, ONES: number): [number, number, number][] {
  return [
    [0, Kx, X],
    [Kx, Kx + Kh, H],
    [Kx + Kh, Kx + Kh + 1, ONES],
  ];
}

/** The rows of C (rows of Np floats at float offset C) into `outs` one after another, N floats a row. */
function copyRowsOut(f32: Float32Array, C: number, Np: number, N: number, outs: readonly Float32Array[]): void {
  let row = 0;
  for (const out of outs) {
    const n = out.length / N;
    if (Np === N) out.set(f32.subarray(C + row * N, C + (row + n) * N));
    else for (let r = 0; r < n; r++) out.set(f32.subarray(C + (row + r) * Np, C + (row + r) * Np + N), r * N);
    row += n;
  }
}

/** The batch indices of a product without batch dimensions (never written to). */
const ONE_BATCH = new Int32Array(1);

/** For each index of the broadcast batch shape `out`, the flat index into batch shape `dims`. */
function batchIndices(out: number[], dims: number[]): Int32Array {
  const n = tf.util.sizeFromShape(out);
  if (n === 1) return ONE_BATCH;
  const idx = new Int32Array(n);
  if (tf.util.sizeFromShape(dims) === 1) return idx;
  const shift = out.length - dims.length;
  const strides = tf.util.computeStrides(dims);
  for (let i = 0; i < n; i++) {
    let rest = i;
    let flat = 0;
    for (let d = out.length - 1; d >= 0; d--) {
      const size = out[d] as number;
      const coord = rest % size;
      rest = (rest - coord) / size;
      const dd = d - shift;
      if (dd >= 0 && (dims[dd] as number) > 1) flat += coord * (dd === dims.length - 1 ? 1 : (strides[dd] as number));
    }
    idx[i] = flat;
  }
  return idx;
}

/** Below this many multiply-adds a product stays on one thread (a split costs a few microseconds). */
const SPLIT_MIN_MACS = 1 << 18;

/**
 * How a product C (M, N) = A (M, K) B (K, N) splits into chunks for `threads`: by rows of A where
 * there are enough (a chunk reads all of B's panels), else by column panels of B (8 columns, so
 * that each chunk starts on a panel); about two chunks a thread; not for small products or one
 * thread.
 */
export function productRuns(M: number, N: number, K: number, threads: number): { rows?: [number, number][]; cols?: [number, number][] } {
  if (threads < 2 || M * N * K < SPLIT_MIN_MACS) return {};
  if (M >= 8 * threads) return { rows: splitRows(M, 2 * threads, 4) };
  if (N >= 16) return { cols: splitRows(N, 2 * threads, 8) };
  return {};
}

/**
 * The wasm backend's BatchMatMul on the kernels' SIMD gemm: both operands copied into the
 * kernels' memory (B packed into panels, straight from its transposed layout when transposeB, and
 * kept for reuse while its tensor lives), one gemm per batch, the product copied out. Batch
 * dimensions broadcast as in NumPy. Returns null for what it does not take (non-float32, rank < 2,
 * mismatched inner sizes: the stock kernel then runs or reports the error).
 */
export class GemmMatMul {
  private readonly packed: PackedOperands;

  constructor(
    readonly k: Kernels,
    /** Most floats of packed operands kept (default 16M, 64 MB). */
    maxKeptFloats = 16 * 2 ** 20,
  ) {
    this.packed = new PackedOperands(k, maxKeptFloats);
  }

  /** Gives back every kept operand whose tensor was freed (also done whenever one is added). */
  sweep(backend: WasmHeapBackend): void {
    this.packed.sweep((id) => backend.refCount(id) === 0);
  }

  run(args: KernelArgs): tf.TensorInfo | null {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = a.shape[transposeA ? ra - 1 : ra - 2] as number;
    const K = a.shape[transposeA ? ra - 2 : ra - 1] as number;
    const N = b.shape[transposeB ? rb - 2 : rb - 1] as number;
    if ((b.shape[transposeB ? rb - 1 : rb - 2] as number) !== K) return null;
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
    const backend = args.backend as unknown as WasmHeapBackend;
    const out = backend.makeOutput([...outBatch, M, N], 'float32');
    const batches = tf.util.sizeFromShape(outBatch);
    if (batches * M * N === 0) return out;
    if (K === 0) {
      backend.typedArrayFromHeap(out).fill(0);
      return out;
    }
    const nA = tf.util.sizeFromShape(batchA);
    this.product(backend, {
      M,
      K,
      N,
      nA,
      scratch: { At: transposeA ? M * K : 0 },
      fillA: (f32, temp) => {
        const aHeap = backend.typedArrayFromHeap(a);
        if (!transposeA) f32.set(aHeap, temp.A);
        // A^T per batch: each batch of a is (K, M).
        else for (let i = 0; i < nA; i++) transposeIn(this.k, f32, [aHeap.subarray(i * M * K, (i + 1) * M * K)], K, M, temp.A + i * M * K, temp.At);
      },
      B: { dataId: b.dataId, layout: transposeB ? TRANSPOSED : PLAIN, count: tf.util.sizeFromShape(batchB) },
      fillB: (f32, at) => f32.set(backend.typedArrayFromHeap(b), at),
      aIdx: batchIndices(outBatch, batchA),
      bIdx: batchIndices(outBatch, batchB),
      batches,
      copyOut: intoTensor(backend, out, M, N),
    });
    return out;
  }

  /**
   * d2l's X W_x + H W_h + b (`affine` of the scratch cells) as one product on the kernels:
   * [X H 1] (M, Kx + Kh + 1) times the stack [W_x; W_h; b] (Kx + Kh + 1, N), so each output is
   * one float32 sum over both products and the bias, in that order, the same on any thread count.
   * The stack's panels are kept while its three tensors live (a step's weights are used 35 times
   * a step). Returns null for what it does not take (other dtypes or shapes; the caller composes
   * the ops then).
   */
  runAffine(args: KernelArgs): tf.TensorInfo | null {
    const { x, h, wx, wh, b } = args.inputs as Record<'x' | 'h' | 'wx' | 'wh' | 'b', tf.TensorInfo>;
    if (![x, h, wx, wh, b].every((t) => t.dtype === 'float32')) return null;
    if (!affineShapes(x.shape, wx.shape, h.shape, wh.shape, b.shape)) return null;
    const [M, Kx] = x.shape as [number, number];
    const [Kh, N] = wh.shape as [number, number];
    const K = Kx + Kh + 1;
    const backend = args.backend as unknown as WasmHeapBackend;
    const out = backend.makeOutput([M, N], 'float32');
    if (M * N === 0) return out;
    this.product(backend, {
      M,
      K,
      N,
      nA: 1,
      scratch: { X: M * Kx, H: M * Kh, ONE: 1 },
      fillA: (f32, temp, rowMajor) => {
        // X and H in as they are, then (where A is formed) their rows side by side.
        f32.set(backend.typedArrayFromHeap(x), temp.X);
        f32.set(backend.typedArrayFromHeap(h), temp.H);
        f32[temp.ONE] = 1;
        if (!rowMajor) return;
        for (let r = 0; r < M; r++) {
          const row = temp.A + r * K;
          f32.copyWithin(row, temp.X + r * Kx, temp.X + r * Kx + Kx);
          f32.copyWithin(row + Kx, temp.H + r * Kh, temp.H + r * Kh + Kh);
          f32[row + Kx + Kh] = 1;
        }
      },
      // [X H 1]'s rows packed from X, H and the one: no row-major copy, no JS loop over the rows.
      packA: (fn, temp, AP, r0, r1) => {
        const at = AP + 4 * r0 * K;
        fn.packRowsInto(at, 4 * (temp.X + r0 * Kx), r1 - r0, Kx, Kx, K, 0);
        fn.packRowsInto(at, 4 * (temp.H + r0 * Kh), r1 - r0, Kh, Kh, K, Kx);
        fn.packRowsInto(at, 4 * temp.ONE, r1 - r0, 1, 0, K, Kx + Kh);
      },
      B: { dataId: wh.dataId, layout: STACKED, count: 1, with: [wx.dataId, b.dataId] },
      // Row-major W_x, W_h and b one after the other are the stack's rows.
      fillB: (f32, at) => {
        f32.set(backend.typedArrayFromHeap(wx), at);
        f32.set(backend.typedArrayFromHeap(wh), at + Kx * N);
        f32.set(backend.typedArrayFromHeap(b), at + (Kx + Kh) * N);
      },
      aIdx: ONE_BATCH,
      bIdx: ONE_BATCH,
      batches: 1,
      copyOut: intoTensor(backend, out, M, N),
    });
    return out;
  }

  /**
   * The weight gradients of `runAffine` in one product: with G (M, N) the output's gradient,
   * [X H 1]^T G stacks dW_x = X^T G, dW_h = H^T G and db = G's column sums, each a sum over the M
   * rows in order (the same bits as the two transposed products and the column sums it replaces),
   * copied out as three tensors. Returns null for what it does not take (the caller composes them).
   */
  runAffineWeightGrads(args: KernelArgs): tf.TensorInfo[] | null {
    const { xs, hs, gs } = affineWeightGradOperands(args);
    const all = [...xs, ...hs, ...gs];
    if (!all.every((t) => t.dtype === 'float32' && t.shape.length === 2)) return null;
    const Kx = xs[0]?.shape[1] as number;
    const Kh = hs[0]?.shape[1] as number;
    const N = gs[0]?.shape[1] as number;
    let M = 0;
    for (let i = 0; i < xs.length; i++) {
      const [x, h, g] = [xs[i], hs[i], gs[i]] as tf.TensorInfo[];
      const rows = x?.shape[0] as number;
      if (x?.shape[1] !== Kx || h?.shape[1] !== Kh || g?.shape[1] !== N || h?.shape[0] !== rows || g?.shape[0] !== rows) return null;
      M += rows;
    }
    const backend = args.backend as unknown as WasmHeapBackend & { disposeData(dataId: object): void };
    const outs = [backend.makeOutput([Kx, N], 'float32'), backend.makeOutput([Kh, N], 'float32'), backend.makeOutput([N], 'float32')];
    if (N === 0) return outs;
    if (M === 0) {
      for (const t of outs) backend.typedArrayFromHeap(t).fill(0);
      return outs;
    }
    try {
      this.weightGradsProduct(backend, { xs, hs, gs, M, Kx, Kh, N }, outs);
    } catch (err) {
      for (const t of outs) backend.disposeData(t.dataId);
      throw err;
    }
    return outs;
  }

  /** `runAffineWeightGrads`'s product over the stacked uses (M rows in all), copied out into `outs` (dW_x, dW_h, db). */
  private weightGradsProduct(
    backend: WasmHeapBackend,
    o: { xs: tf.TensorInfo[]; hs: tf.TensorInfo[]; gs: tf.TensorInfo[]; M: number; Kx: number; Kh: number; N: number },
    outs: tf.TensorInfo[],
  ): void {
    const { M, Kx, Kh, N } = o;
    const heaps = (ts: tf.TensorInfo[]) => ts.map((t) => backend.typedArrayFromHeap(t));
    const rows = Kx + Kh + 1;
    // With X's and H's widths in whole 4-row blocks of A, A's rows pack straight from X's and H's
    // columns (`packColumns`), in the product's chunks, rather than transposed here first.
    const direct = Kx % 4 === 0 && Kh % 4 === 0;
    this.product(backend, {
      M: rows,
      K: M,
      N,
      nA: 1,
      // X and H as they are (where A is formed row-major, they are transposeIn's scratch).
      scratch: direct ? { X: M * Kx, H: M * Kh, ONES: M } : { X: M * Math.max(Kx, Kh), H: 0, ONES: 0 },
      fillA: (f32, temp, rowMajor) => {
        if (rowMajor) {
          // X^T, then H^T, then a row of ones: (Kx + Kh + 1, M).
          transposeIn(this.k, f32, heaps(o.xs), M, Kx, temp.A, temp.X);
          transposeIn(this.k, f32, heaps(o.hs), M, Kh, temp.A + Kx * M, direct ? temp.H : temp.X);
          f32.fill(1, temp.A + (Kx + Kh) * M, temp.A + rows * M);
          return;
        }
        copyIn(f32, heaps(o.xs), temp.X);
        copyIn(f32, heaps(o.hs), temp.H);
        f32.fill(1, temp.ONES, temp.ONES + M);
      },
      // A's rows r0..r1: X's columns, then H's, then the ones (a plain row, the layout's last).
      ...(direct && {
        packA: (fn: KernelCalls, temp: Record<'X' | 'H' | 'ONES', number>, AP: number, r0: number, r1: number) =>
          packColumnParts(fn, AP, M, xh1Parts(Kx, Kh, temp.X, temp.H, temp.ONES), r0, r1),
      }),
      // A gradient (or a stack of them): used this once, never kept.
      B: { dataId: (o.gs[0] as tf.TensorInfo).dataId, layout: PLAIN, count: 1, once: true },
      fillB: (f32, at) => {
        for (const heap of heaps(o.gs)) {
          f32.set(heap, at);
          at += heap.length;
        }
      },
      aIdx: ONE_BATCH,
      bIdx: ONE_BATCH,
      batches: 1,
      copyOut: (f32, C, Np) =>
        copyRowsOut(
          f32,
          C,
          Np,
          N,
          outs.map((t) => backend.typedArrayFromHeap(t)),
        ),
    });
  }

  /**
   * `out` = A B for each of `batches` pairs (A's batch `aIdx[i]`, B's `bIdx[i]`): A's nA batches
   * (M, K) assembled by `fillA` in the kernels' memory, B's `count` batches written row-major by
   * `fillB` (transposed in the TRANSPOSED layout) and packed into panels, or taken from the kept
   * panels of `B.dataId` (a stack's: with exactly the tensors `B.with`), and kept as
   * `worthKeeping` says (never where `B.once`). Every product is one gemm over the panels, split
   * as `productRuns` says, and `copyOut` takes it out of the kernels' memory.
   */
  private product<S extends string>(backend: WasmHeapBackend, p: ProductOperands<S>): void {
    const { M, K, N } = p;
    const k = this.k;
    const Np = (N + 3) & ~3;
    const panelFloats = K * Np;
    const { dataId, layout, count } = p.B;
    const shape = `${count}x${K}x${N}`;
    const kept = p.B.once ? undefined : this.packed.get(dataId, layout, shape, p.B.with);
    const keep = !kept && !p.B.once && this.packed.worthKeeping(dataId, layout, count * panelFloats);
    const runs = productRuns(M, Np, K, k.threads);
    // AP: one product's A packed for the gemm (`packRows`), where it runs whole or split by rows;
    // then `packA`, where given, packs it from its parts (and A is not formed).
    const packA = runs.cols ? undefined : p.packA;
    const temp = k.allocLayout({ A: packA ? 0 : p.nA * M * K, ...p.scratch, C: M * Np, AP: runs.cols ? 0 : M * K, Braw: kept ? 0 : count * K * N } as Record<
      'A' | 'C' | 'AP' | 'Braw' | S,
      number
    >);
    let panels: Packed;
    try {
      panels = kept ?? { offset: k.alloc(count * panelFloats), floats: count * panelFloats, shape, ...(p.B.with ? { with: p.B.with } : {}) };
    } catch (err) {
      k.release(temp.region);
      throw err;
    }
    const f32 = k.f32; // read after every alloc: one may have grown the memory
    try {
      p.fillA(f32, temp, !packA);
      if (!kept) {
        p.fillB(f32, temp.Braw);
        for (let i = 0; i < count; i++) {
          const src = 4 * (temp.Braw + i * K * N);
          const dst = 4 * (panels.offset + i * panelFloats);
          if (layout === TRANSPOSED) k.fn.packPanelsStrided(dst, src, K, N, 1, K);
          else if (N % 4 === 0) k.fn.packPanels(dst, src, K, N);
          else k.fn.packPanelsStrided(dst, src, K, N, N, 1);
        }
      }
      for (let i = 0; i < p.batches; i++) {
        const A = 4 * (temp.A + (p.aIdx[i] as number) * M * K);
        const P = 4 * (panels.offset + (p.bIdx[i] as number) * panelFloats);
        this.gemm(runs, temp.C, A, 4 * temp.AP, P, M, K, Np, packA && ((fn, r0, r1) => packA.call(p, fn, temp, 4 * temp.AP, r0, r1)));
        p.copyOut(f32, temp.C, Np, i);
      }
    } catch (err) {
      if (!kept) k.release(panels.offset);
      throw err;
    } finally {
      k.release(temp.region);
    }
    if (keep) this.packed.add(dataId, layout, panels, backend);
    else if (!kept) k.release(panels.offset);
  }

  /**
   * C (at float offset `C`, rows of Np) = A (byte offset) times the panels at byte offset P, split
   * as `runs` says. Whole or split by rows, A's rows are packed (at byte offset AP) for
   * `gemmPacked`, about 10% faster than `gemm` on row-major A, with the same sums in the same order.
   */
  private gemm(
    runs: ReturnType<typeof productRuns>,
    C: number,
    A: number,
    AP: number,
    P: number,
    M: number,
    K: number,
    Np: number,
    packA?: (fn: KernelCalls, r0: number, r1: number) => void,
  ): void {
    const k = this.k;
    if (runs.cols) {
      // Every chunk reads all of A: packing it per chunk would repeat the work.
      k.split(runs.cols, (fn, c0, c1) => fn.gemmStrided(4 * (C + c0), A, P + 4 * K * c0, M, K, c1 - c0, Np), M * Np * K);
      return;
    }
    k.split(
      runs.rows ?? [[0, M]],
      (fn, r0, r1) => {
        if (packA) packA(fn, r0, r1);
        else fn.packRows(AP + 4 * r0 * K, A + 4 * r0 * K, r1 - r0, K, K);
        fn.gemmPacked(4 * (C + r0 * Np), AP + 4 * r0 * K, P, r1 - r0, K, Np, Np, 0);
      },
      M * Np * K,
    );
  }

  /**
   * A `WeightGradStream` for weights W_x (Kx, N), W_h (Kh, N) and b (N), or null where it cannot
   * pack [X H 1]^T's rows straight from X's and H's columns (widths not multiples of 4).
   */
  streamWeightGrads(Kx: number, Kh: number, N: number): WeightGradStream | null {
    if (Kx % 4 !== 0 || Kh % 4 !== 0 || N === 0) return null;
    return new WeightGradStream(this.k, Kx, Kh, N);
  }

  /** Floats of packed operands kept now (for tests). */
  get keptFloats(): number {
    return this.packed.keptFloats;
  }
}

/** Rows of stacked uses that `WeightGradStream` multiplies in one background product. */
const STREAM_BLOCK_ROWS = 128;
/** Rows of [X H 1]^T per chunk of such a product: a chunk is about 0.2 ms at d2l's sizes. */
const STREAM_CHUNK_ROWS = 64;

/** One block of a `WeightGradStream`: its uses' rows, room to pack them, and its product. */
interface StreamBlock {
  /**
   * The region, for `release`, and the offsets (floats) of X, H, G, a row of ones, A's and G's
   * packings, and the product (where it is not added into the first block's as it is made).
   */
  at: Record<'X' | 'H' | 'G' | 'ONES' | 'AP' | 'P' | 'C', number> & { region: number };
  /** Rows it has room for, and rows in it. */
  cap: number;
  used: number;
}

/**
 * The weight gradients of `runAffine` summed over uses that arrive one at a time (a backward
 * pass's steps): each block of about `STREAM_BLOCK_ROWS` rows is multiplied in the background
 * (`Kernels.post`) while the caller goes on, [X H 1]^T G for the block, its rows summed in the
 * order they arrived; `finish` waits for them and adds the blocks' products in that order. So
 * the bits depend on the uses and their order only, not on the threads. `dispose` (also after
 * `finish`) gives the kernels' memory back. X's and H's widths are multiples of 4
 * (`GemmMatMul.streamWeightGrads`).
 */
export class WeightGradStream {
  private readonly rows: number;
  private readonly Np: number;
  private readonly blocks: StreamBlock[] = [];
  private posted = 0;
  private disposed = false;
  /** Whether the blocks' products run in order on this thread as they are posted (no workers). */
  private readonly inline: boolean;

  constructor(
    private readonly k: Kernels,
    readonly Kx: number,
    readonly Kh: number,
    readonly N: number,
  ) {
    this.rows = Kx + Kh + 1;
    this.Np = (N + 3) & ~3;
    this.inline = k.postsInline;
  }

  /** Adds one use: x (M, Kx), h (M, Kh) and the output's gradient g (M, N), row-major. */
  add(x: Float32Array, h: Float32Array, g: Float32Array): void {
    const M = x.length / this.Kx;
    let block = this.blocks[this.blocks.length - 1];
    if (!block || this.blocks.length === this.posted || block.used + M > block.cap) {
      if (block && this.blocks.length > this.posted) this.postBlock();
      block = this.newBlock(Math.max(STREAM_BLOCK_ROWS, M));
    }
    const f32 = this.k.f32;
    f32.set(x, block.at.X + block.used * this.Kx);
    f32.set(h, block.at.H + block.used * this.Kh);
    f32.set(g, block.at.G + block.used * this.N);
    block.used += M;
    if (block.used >= STREAM_BLOCK_ROWS) this.postBlock();
  }

  /** Posts what is left, waits for every product, and copies their sum, dW_x, dW_h and db, into `outs`. */
  finish(outs: readonly [Float32Array, Float32Array, Float32Array]): void {
    if (this.blocks.length > this.posted) this.postBlock();
    this.k.join();
    const { N, Np, rows, blocks } = this;
    const sum = (blocks[0] as StreamBlock | undefined)?.at.C;
    // On this thread each product was added into the first one's as it was made.
    const rest = this.inline ? [] : blocks.slice(1);
    if (sum !== undefined && rest.length > 0) {
      // The products added into the first one's, in order, split by rows; 16 rows at a time, so
      // that the sum's rows stay in cache while every product's are added.
      this.k.split(
        splitRows(rows, 2 * this.k.threads, 4),
        (fn, r0, r1) => {
          for (let a = r0; a < r1; a += 16) {
            const n = (Math.min(a + 16, r1) - a) * Np;
            for (const b of rest) fn.add3(4 * (sum + a * Np), 4 * (sum + a * Np), 4 * (b.at.C + a * Np), 0, n);
          }
        },
        rest.length * rows * Np,
      );
    }
    if (sum === undefined) for (const out of outs) out.fill(0);
    else copyRowsOut(this.k.f32, sum, Np, N, outs);
  }

  /** Waits for the products still running, then gives back the kernels' memory. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.k.join();
    } finally {
      // Joined, or the lane failed or was closed: nothing of this stream runs any more.
      for (const b of this.blocks) this.k.release(b.at.region);
    }
  }

  private newBlock(cap: number): StreamBlock {
    const { Kx, Kh, N, Np, rows } = this;
    // Run in order on this thread, a block's product is added into the first's as it is made.
    const first = this.blocks.length === 0;
    const at = this.k.allocLayout({
      X: cap * Kx,
      H: cap * Kh,
      G: cap * N,
      ONES: cap,
      AP: rows * cap,
      P: cap * Np,
      C: first || !this.inline ? rows * Np : 0,
    });
    this.k.f32.fill(1, at.ONES, at.ONES + cap);
    const block = { at, cap, used: 0 };
    this.blocks.push(block);
    return block;
  }

  /** Packs the last block's G into panels here, then posts [X H 1]^T's rows in chunks, each packed and multiplied. */
  private postBlock(): void {
    const { Kx, Kh, N, Np, rows } = this;
    const block = this.blocks[this.blocks.length - 1] as StreamBlock;
    const { at, used: K } = block;
    const sum = (this.blocks[0] as StreamBlock).at;
    // Added into the first block's product as it is made (on this thread), or a product of its own.
    const added = this.inline && block !== this.blocks[0];
    this.posted = this.blocks.length;
    // Added into the first block's rows: the blocks before it must be done, wherever they ran
    // (workers that started since the stream did may have taken them).
    if (added) this.k.join();
    if (N % 4 === 0) this.k.fn.packPanels(4 * at.P, 4 * at.G, K, N);
    else this.k.fn.packPanelsStrided(4 * at.P, 4 * at.G, K, N, N, 1);
    const parts = xh1Parts(Kx, Kh, at.X, at.H, at.ONES);
    this.k.post(splitRows(rows, Math.ceil(rows / STREAM_CHUNK_ROWS), 4), (fn, r0, r1) => {
      packColumnParts(fn, 4 * at.AP, K, parts, r0, r1);
      // Added: the same sums as `finish` adds.
      fn.gemmPacked(4 * ((added ? sum.C : at.C) + r0 * Np), 4 * (at.AP + r0 * K), 4 * at.P, r1 - r0, K, Np, Np, added ? 1 : 0);
    });
  }
}

/**
 * The operands of `AFFINE_WEIGHT_GRADS_KERNEL`: inputs x, h and g, or a stack of uses (attribute
 * `uses` = n, inputs x0..x{n-1}, h0.., g0..) whose rows are summed as one.
 */
export function affineWeightGradOperands(args: KernelArgs): { xs: tf.TensorInfo[]; hs: tf.TensorInfo[]; gs: tf.TensorInfo[] } {
  const inputs = args.inputs as Record<string, tf.TensorInfo>;
  const uses = (args.attrs as { uses?: number } | undefined)?.uses;
  if (uses === undefined) return { xs: [inputs.x as tf.TensorInfo], hs: [inputs.h as tf.TensorInfo], gs: [inputs.g as tf.TensorInfo] };
  if (!Number.isInteger(uses) || uses < 1)
    throw new Error(`RnnkitAffineWeightGrads: attribute uses must be a whole number of at least 1, got ${String(uses)}.`);
  const list = (part: string) => Array.from({ length: uses }, (_, i) => inputs[`${part}${i}`] as tf.TensorInfo);
  return { xs: list('x'), hs: list('h'), gs: list('g') };
}

/** Whether X (M, Kx), W_x (Kx, N), H (M, Kh), W_h (Kh, N) and b (N) make `affine`'s operands. */
export function affineShapes(x: readonly number[], wx: readonly number[], h: readonly number[], wh: readonly number[], b: readonly number[]): boolean {
  if (x.length !== 2 || wx.length !== 2 || h.length !== 2 || wh.length !== 2 || b.length !== 1) return false;
  const N = b[0];
  return x[0] === h[0] && x[1] === wx[0] && h[1] === wh[0] && wx[1] === N && wh[1] === N;
}
