import * as tf from '@tensorflow/tfjs-core';
import { AFFINE_KERNEL, registerWasmAffine, shareTensor } from './affine.js';
import { GemmMatMul } from './matmul.js';
import { type Kernels, heapBackend, processKernels } from './simd.js';
import { type KernelCalls, splitRows } from './threads.js';
import { keepNodeErrorReporting } from '../node-errors.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];
interface WasmBackendLike {
  disposeData(dataId: object): void;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

type HeapBackend = WasmBackendLike & { makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo };

const installed = new Set<string>();

/**
 * Replaces slow kernels of the wasm backend (tfjs 4.22) with rnnkit's SIMD gemm or compositions
 * of the backend's fast kernels.
 * Call it once after the wasm backend has started (`await tf.setBackend('wasm')`; apps do,
 * libraries never pick a backend). Returns the kernels replaced; a no-op when wasm is not
 * registered or already patched. In Node it also calls `keepNodeErrorReporting`, so that the
 * backend's own crash listeners do not bury the program's uncaught errors.
 *
 * - BatchMatMul: with transposeA or transposeB the stock kernel leaves XNNPACK for a naive loop,
 *   and every matmul gradient is transposed. It now runs on the kernels' SIMD gemm (`GemmMatMul`:
 *   as fast with a transpose as without, and faster than XNNPACK untransposed; the measured speeds
 *   are in the package README), its B operand packed straight from the transposed layout and kept
 *   packed while its tensor lives (a weight is used 35 times a step). Without WebAssembly SIMD
 *   it transposes the operand explicitly (wasm Transpose) and runs the plain XNNPACK path.
 * - Tanh (float32): the stock kernel is many times slower than Sigmoid. It runs on the kernels'
 *   SIMD tanh (the fused gates' `tanh4`), split over the kernels' threads where the tensor is
 *   large enough (a 32 x 512 one is: 47 against 31 µs); without SIMD, as tanh(x) = 2 sigmoid(2x) - 1
 *   on the stock Sigmoid with the affine steps done in place on the output.
 * - Sum over leading axes (float32; a bias gradient's sum over the batch): the stock kernel
 *   transposes first; `columnSums` adds in its order, so the sums are the same bits.
 * - Cast to the input's own dtype (every Multiply gradient casts its saved operand): shares the
 *   data as Identity does; the stock kernel copies it.
 * - Slice: the stock kernel copies the whole input out of the heap before taking its part, so
 *   slicing one step off a sequence costs the sequence. A contiguous slice is now one copy of its
 *   own values, heap to heap; other slices still go to the stock kernel. Unpack and SplitV, which
 *   call the stock slice directly, now go through this one.
 * - Identity: the stock kernel copies its input; it now shares it (see patchIdentity).
 * - RnnkitAffine (new): the scratch cells' X W_x + H W_h + b as one kernel with its own gradient
 *   (`affine` of ops.ts uses it where registered), one gemm over the stacked operands; its three
 *   weight gradients are one more (RnnkitAffineWeightGrads), one gemm over [X H 1]^T, of one use
 *   or of a stack of uses. Inside `withWeightTaps`, RnnkitWeightTap puts each weight triple on the
 *   gradient tape once and every step runs RnnkitAffineTapped instead (see affine.ts).
 * - The gradients of Sigmoid and Tanh (float32, one shape, no tape on the backward pass): one
 *   kernel each (RnnkitSigmoidGrad, RnnkitTanhGrad) on the kernels' SIMD lanes instead of three
 *   ops, with the same bits; the registered gradient (tfjs-layers registers TensorFlow.js's) keeps
 *   everything else.
 * - The gradients of Add, Sub and Multiply (float32 operands and dy of one shape, no tape on the
 *   backward pass): dy shared, -dy, and dy times the other operand, without the Reshape and Cast
 *   that only copy; the registered gradient keeps everything else.
 * - Exp (softmax cross-entropy's logSoftmax): float32 runs on the kernels' SIMD exp (`expFloats`,
 *   Infinity, denormals, 0 and NaN as the stock kernel gives them), split as Tanh is; other dtypes, or
 *   no WebAssembly SIMD, go to the stock kernel.
 */
export function installWasmKernels(): string[] {
  keepNodeErrorReporting();
  const done: string[] = [];
  if (!installed.has('BatchMatMul') && patchMatMul()) done.push('BatchMatMul');
  if (!installed.has('Tanh') && patchTanh()) done.push('Tanh');
  if (!installed.has('Slice') && patchSlice()) done.push('Slice');
  if (!installed.has('Identity') && patchIdentity()) done.push('Identity');
  if (!installed.has('Unpack') && patchUnpack()) done.push('Unpack');
  if (!installed.has('SplitV') && patchSplitV()) done.push('SplitV');
  if (!installed.has('Exp') && patchExp()) done.push('Exp');
  if (!installed.has('Sum') && patchSum()) done.push('Sum');
  if (!installed.has('Cast') && patchCast()) done.push('Cast');
  for (const kind of ['Sigmoid', 'Tanh'] as const) {
    if (!installed.has(`${kind} gradient`) && fuseActivationGradient(kind)) done.push(`${kind} gradient`);
  }
  for (const kind of ['Add', 'Sub', 'Multiply'] as const) {
    if (!installed.has(`${kind} gradient`) && shareOperandGradients(kind)) done.push(`${kind} gradient`);
  }
  if (
    !installed.has(AFFINE_KERNEL) &&
    registerWasmAffine(
      (args) => wasmMatMul()?.runAffine(args) ?? null,
      (args) => wasmMatMul()?.runAffineWeightGrads(args) ?? null,
      (Kx, Kh, N) => wasmMatMul()?.streamWeightGrads(Kx, Kh, N) ?? null,
    )
  )
    done.push(AFFINE_KERNEL);
  done.forEach((k) => {
    installed.add(k);
  });
  return done;
}

function replace(kernelName: string, make: (stock: tf.KernelConfig) => tf.KernelFunc): boolean {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (!stock) return false;
  tf.unregisterKernel(kernelName, 'wasm');
  const config: tf.KernelConfig = { kernelName, backendName: 'wasm', kernelFunc: make(stock) };
  if (stock.setupFunc) config.setupFunc = stock.setupFunc;
  if (stock.disposeFunc) config.disposeFunc = stock.disposeFunc;
  tf.registerKernel(config);
  return true;
}

let gemm: GemmMatMul | null = null;

/**
 * The SIMD gemm behind BatchMatMul, on the process's kernels (`processKernels`: the fused ops'
 * memory and threads); null where WebAssembly SIMD is missing, and in a browser's main thread
 * until the asynchronous compile has finished. A new instance of the kernels (a new thread
 * count, `useKernels` turned on again) gets a new one, without the old one's kept operands.
 */
export function wasmMatMul(): GemmMatMul | null {
  const k = processKernels();
  if (!k) return null;
  if (gemm?.k !== k) gemm = new GemmMatMul(k);
  return gemm;
}

function patchMatMul(): boolean {
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!transpose) return false;
  return replace('BatchMatMul', (stock) => (args: KernelArgs) => {
    const viaGemm = wasmMatMul()?.run(args);
    if (viaGemm) return viaGemm;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return stock.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const temporaries: tf.TensorInfo[] = [];
    const swapLastTwo = (x: tf.TensorInfo): tf.TensorInfo => {
      const rank = x.shape.length;
      const perm = Array.from({ length: rank }, (_, i) => i);
      [perm[rank - 2], perm[rank - 1]] = [rank - 1, rank - 2];
      const y = transpose.kernelFunc({ inputs: { x }, backend: args.backend, attrs: { perm } }) as tf.TensorInfo;
      temporaries.push(y);
      return y;
    };
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const out = stock.kernelFunc({
      inputs: { a: transposeA ? swapLastTwo(a) : a, b: transposeB ? swapLastTwo(b) : b },
      backend: args.backend,
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    });
    for (const t of temporaries) backend.disposeData(t.dataId);
    return out;
  });
}

function patchTanh(): boolean {
  const sigmoid = tf.getKernel('Sigmoid', 'wasm');
  if (!sigmoid) return false;
  return replace('Tanh', () => (args: KernelArgs) => {
    const backend = args.backend as unknown as HeapBackend;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const k = processKernels();
    if (k && x.dtype === 'float32') return floatsOnKernels(k, backend, x, 'tanhFloats', TANH_WORK);
    // 2x, through a (x + x) free of scalar tensors: Multiply by itself would square, so copy-add.
    const doubled = backend.makeOutput(x.shape, 'float32');
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(doubled);
    for (let i = 0; i < src.length; i++) dst[i] = 2 * (src[i] as number);
    const s = sigmoid.kernelFunc({ inputs: { x: doubled }, backend: args.backend, attrs: {} }) as tf.TensorInfo;
    backend.disposeData(doubled.dataId);
    const out = backend.typedArrayFromHeap(s);
    for (let i = 0; i < out.length; i++) out[i] = 2 * (out[i] as number) - 1;
    return s;
  });
}

function patchSlice(): boolean {
  return replace('Slice', (stock) => (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [begin_, size_] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size) as [number[], number[]];
    if (x.dtype === 'string' || !tf.slice_util.isSliceContinous(x.shape, begin_, size_)) return stock.kernelFunc(args);
    const backend = args.backend as unknown as HeapBackend;
    const out = backend.makeOutput(size_, x.dtype);
    const offset = tf.slice_util.computeFlatOffset(begin_, tf.util.computeStrides(x.shape));
    const n = tf.util.sizeFromShape(size_);
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x).subarray(offset, offset + n));
    return out;
  });
}

/**
 * Identity shares its input's data (one more reference), as the cpu backend's does: the stock
 * kernel copies it. The engine clones every tensor a gradient saves, weights included, so a
 * scratch GRU-512 step copied about 1,500 tensors (70 MB) only to read them back.
 */
function patchIdentity(): boolean {
  return replace('Identity', (stock) => (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return stock.kernelFunc(args);
    return shareInput(args, x);
  });
}

/** x itself as the output: one more reference to its data, no copy. */
function shareInput(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** The Slice kernel registered now (rnnkit's, once installed), for kernels built from slices. */
function sliceOf(args: KernelArgs, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const slice = tf.getKernel('Slice', 'wasm') as tf.KernelConfig;
  return slice.kernelFunc({ inputs: { x }, backend: args.backend, attrs: { begin, size } }) as tf.TensorInfo;
}

/**
 * Unpack (`tf.unstack`) as one slice per output through the registered Slice: the stock kernel
 * calls the stock slice directly, which copies the whole input out of the heap for every output.
 */
function patchUnpack(): boolean {
  return replace('Unpack', () => (args: KernelArgs) => {
    const { value } = args.inputs as { value: tf.TensorInfo };
    const rank = value.shape.length;
    const axis = ((args.attrs as { axis: number }).axis + rank) % rank;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const begin = new Array<number>(rank).fill(0);
    const size = [...value.shape];
    size[axis] = 1;
    return Array.from({ length: value.shape[axis] as number }, (_, i) => {
      begin[axis] = i;
      const { dataId, dtype } = sliceOf(args, value, begin, size);
      return { dataId, dtype, shape: outShape };
    });
  });
}

/** SplitV (`tf.split`, and the gradient of `tf.concat`) through the registered Slice, as Unpack. */
function patchSplitV(): boolean {
  return replace('SplitV', () => (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0] as number;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[$axis] = s;
      const part = sliceOf(args, x, begin, size);
      begin[$axis] = (begin[$axis] as number) + s;
      return part;
    });
  });
}

/**
 * A kernel on rnnkit's kernels: x's floats copied into their memory at `at` (and `y`'s, of x's
 * size, where given, at `yAt`), `op(at, n, outAt, yAt)` run there (on one thread unless `op`
 * splits it), and the floats at `outAt` copied to a new output of `outShape`, made
 * last (an error above leaves none behind). Element-wise ops keep x's shape and work in place
 * (`outAt` is `at`); others get a region of their own after x's.
 */
function mapOnKernels(
  k: Kernels,
  backend: HeapBackend,
  x: tf.TensorInfo,
  op: (at: number, n: number, outAt: number, yAt: number) => void,
  outShape: number[] = x.shape,
  y: tf.TensorInfo | null = null,
): tf.TensorInfo {
  const n = tf.util.sizeFromShape(x.shape);
  if (n === 0) return backend.makeOutput(outShape, 'float32');
  const inPlace = outShape === x.shape;
  const size = inPlace ? n : tf.util.sizeFromShape(outShape);
  const at = k.allocLayout({ x: n, y: y ? n : 0, out: inPlace ? 0 : size });
  const outAt = inPlace ? at.x : at.out;
  try {
    const f32 = k.f32; // read after the alloc: it may have grown the memory
    f32.set(backend.typedArrayFromHeap(x), at.x);
    if (y) f32.set(backend.typedArrayFromHeap(y), at.y);
    op(at.x, n, outAt, at.y);
    const out = backend.makeOutput(outShape, 'float32');
    backend.typedArrayFromHeap(out).set(f32.subarray(outAt, outAt + size));
    return out;
  } finally {
    k.release(at.region);
  }
}

/**
 * `mapOnKernels` of an element-wise kernel `fn(out, x, n)` in place, in chunks of whole 4-float
 * vectors split over the kernels' threads where its work is worth a hand-off (each float's result
 * is its own: the same bits on any count). `work` is a float's cost in the kernels' unit, a
 * multiply-add of the gemm.
 */
function floatsOnKernels(k: Kernels, backend: HeapBackend, x: tf.TensorInfo, fn: 'tanhFloats' | 'expFloats', work: number): tf.TensorInfo {
  return mapOnKernels(k, backend, x, (at, n) =>
    k.split(splitRows(n, 2 * k.threads, 4), (calls: KernelCalls, i0, i1) => calls[fn](4 * (at + i0), 4 * (at + i0), i1 - i0), n * work),
  );
}

// A float's tanh and exp cost about 70 and 40 of the gemm's multiply-adds (2.7 and 1.6 ns on one
// thread): a scratch GRU-512's 32 x 512 tanh splits where workers are spinning.
const TANH_WORK = 70;
const EXP_WORK = 40;

/** Exp on the kernels' SIMD exp (softmax cross-entropy's logSoftmax); other dtypes and no SIMD on the stock kernel. */
function patchExp(): boolean {
  return replace('Exp', (stock) => (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const k = processKernels();
    if (x.dtype !== 'float32' || !k) return stock.kernelFunc(args);
    return floatsOnKernels(k, args.backend as unknown as HeapBackend, x, 'expFloats', EXP_WORK);
  });
}

/**
 * Sum over leading axes, given in order (axis 0 of a matrix: a bias gradient), as the kernels' column sums, which
 * add each column from 0 in row order in float32, as the stock kernel does after transposing:
 * the same bits without the transpose. A float32 sum of an empty tensor is zeros, over any axes. Other
 * reductions and dtypes go to the stock kernel.
 */
function patchSum(): boolean {
  return replace('Sum', (stock) => (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const k = processKernels();
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || !k) return stock.kernelFunc(args);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    if (tf.util.sizeFromShape(x.shape) === 0) {
      // A sum over nothing is 0 (the stock kernel leaves such an output unwritten), whatever the axes.
      const reduced = tf.backend_util.computeOutAndReduceShapes(x.shape, axes)[0];
      const backend = args.backend as unknown as HeapBackend;
      const out = backend.makeOutput(keepDims ? tf.backend_util.expandShapeToKeepDim(reduced, axes) : reduced, 'float32');
      backend.typedArrayFromHeap(out).fill(0);
      return out;
    }
    // Axes 0, 1, ... in that order (the stock kernel adds the reduced axes in the order given).
    const lead = axes.length;
    if (lead === 0 || lead === rank || !axes.every((a, i) => a === i)) return stock.kernelFunc(args);
    const rows = tf.util.sizeFromShape(x.shape.slice(0, lead));
    const cols = tf.util.sizeFromShape(x.shape.slice(lead));
    const outShape = keepDims ? x.shape.map((d, i) => (i < lead ? 1 : d)) : x.shape.slice(lead);
    return mapOnKernels(k, args.backend as unknown as HeapBackend, x, (at, _, sums) => k.fn.columnSums(4 * sums, 4 * at, rows, cols), outShape);
  });
}

/**
 * Cast to the dtype a tensor already has shares its data, as Identity does (every Multiply
 * gradient casts its saved operand to float32); the stock kernel copies it.
 */
function patchCast(): boolean {
  return replace('Cast', (stock) => (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    if (dtype !== x.dtype || x.dtype === 'string') return stock.kernelFunc(args);
    return shareInput(args, x);
  });
}

/** The kernels of the fused activation gradients: inputs y (the activation's output) and dy. */
export const SIGMOID_GRAD_KERNEL = 'RnnkitSigmoidGrad';
export const TANH_GRAD_KERNEL = 'RnnkitTanhGrad';

/** Each fused activation gradient's kernel, and its function on rnnkit's kernels. */
const ACTIVATION_GRADIENTS = {
  Sigmoid: { kernelName: SIGMOID_GRAD_KERNEL, fn: 'sigmoidGrad' },
  Tanh: { kernelName: TANH_GRAD_KERNEL, fn: 'tanhGrad' },
} as const;

/**
 * Registers the kernel of `kind`'s gradient for wasm (Sigmoid: dy * (y * (1 - y)); Tanh:
 * (1 - y * y) * dy, float32) on rnnkit's kernels (`sigmoidGrad`, `tanhGrad`: y and dy copied in,
 * one thread), one kernel instead of three ops and a scalar, each step rounded to float32 as the
 * ops round it: the same bits. A scratch GRU step takes two sigmoid gradients and one tanh
 * gradient. It wraps the gradient registered now (tfjs-layers registers TensorFlow.js's): float32
 * operands of one shape on wasm with rnnkit's kernels, with no tape on the backward pass, take the
 * kernel; anything else (a gradient of a gradient, other backends, other dtypes, no WebAssembly
 * SIMD) the registered gradient's ops.
 */
function fuseActivationGradient(kind: keyof typeof ACTIVATION_GRADIENTS): boolean {
  const stock = tf.getGradient(kind);
  if (!stock) return false;
  const { kernelName, fn } = ACTIVATION_GRADIENTS[kind];
  if (!tf.getKernel(kernelName, 'wasm'))
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: (args: KernelArgs) => {
        const { y, dy } = args.inputs as { y: tf.TensorInfo; dy: tf.TensorInfo };
        const k = processKernels();
        if (!k) throw new Error(`${kernelName}: rnnkit's kernels are not loaded (no WebAssembly SIMD?).`);
        return mapOnKernels(k, args.backend as unknown as HeapBackend, y, (at, n, _, dyAt) => k.fn[fn](4 * at, 4 * at, 4 * dyAt, n), y.shape, dy);
      },
    });
  tf.registerGradient({
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      const grads = stock.gradFunc(dy, saved, attrs);
      const y = saved[0] as tf.Tensor;
      const d = dy as tf.Tensor;
      return {
        x: () =>
          y.dtype === 'float32' &&
          d.dtype === 'float32' &&
          tf.util.arraysEqual(y.shape, d.shape) &&
          !tf.engine().isTapeOn() &&
          tf.getKernel(kernelName, tf.getBackend()) &&
          processKernels()
            ? (tf.engine().runKernel(kernelName, { y, dy: d }) as tf.Tensor)
            : (grads.x as () => tf.Tensor)(),
      };
    },
  });
  return true;
}

/**
 * Wraps the registered gradient (tfjs-layers registers TensorFlow.js's) of Add, Sub or Multiply:
 * on wasm, with no tape on the backward pass and dy float32, for each float32 operand of dy's own
 * shape, Add's and Sub's gradients are dy itself (a share of its data) and -dy, not dy reshaped to the
 * shape it has, and Multiply's is dy times the other operand, not times that operand cast to the
 * dtype it has (where that is float32): the same values, without the kernel calls that only copy
 * (348 of a scratch GRU-512 step's 1,854). Anything else (an operand broadcast to dy's shape, other
 * dtypes, other backends, a gradient of a gradient) takes the registered gradient.
 */
function shareOperandGradients(kind: 'Add' | 'Sub' | 'Multiply'): boolean {
  const stock = tf.getGradient(kind);
  if (!stock) return false;
  tf.registerGradient({
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const d = dy as tf.Tensor;
      if (d.dtype !== 'float32' || tf.engine().isTapeOn() || heapBackend() === null) return stock.gradFunc(dy, saved, attrs);
      // Each operand's gradient without the copies, where it has dy's shape (else null).
      const ofDyShape = (x: tf.Tensor) => x.dtype === 'float32' && tf.util.arraysEqual(x.shape, d.shape);
      const times = (other: tf.Tensor) => (other.dtype === 'float32' ? () => tf.mul(d, other) : null);
      const da = !ofDyShape(a) ? null : kind === 'Multiply' ? times(b) : () => shareTensor(d);
      const db = !ofDyShape(b) ? null : kind === 'Multiply' ? times(a) : kind === 'Sub' ? () => tf.neg(d) : () => shareTensor(d);
      if (da && db) return { a: da, b: db };
      // The registered gradient for the rest (its closures are made only where one is needed).
      const grads = stock.gradFunc(dy, saved, attrs);
      return { a: da ?? (grads.a as () => tf.Tensor), b: db ?? (grads.b as () => tf.Tensor) };
    },
  });
  return true;
}
