import * as tf from '@tensorflow/tfjs-core';
import { affineShapes, affineWeightGradOperands, type WeightGradStream } from './matmul.js';
import { recordOpPath } from './paths.js';
import { heapBackend, type HeapBackend } from './simd.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * The kernel behind the scratch cells' `affine` (X W_x + H W_h + b) where one is registered for
 * the backend running (`installWasmKernels` registers it for wasm): one op instead of two matmuls
 * and two adds, so one entry on the gradient tape instead of four and four saved tensors instead
 * of eight.
 */
export const AFFINE_KERNEL = 'RnnkitAffine';

/**
 * The weight gradients of `AFFINE_KERNEL` in one kernel: inputs X, H and G (the output's
 * gradient), outputs dW_x = X^T G, dW_h = H^T G and db = G's column sums.
 */
export const AFFINE_WEIGHT_GRADS_KERNEL = 'RnnkitAffineWeightGrads';

/**
 * `AFFINE_KERNEL` for one use of weights under a `WEIGHT_TAP_KERNEL`: inputs X, H and the tap's
 * token, the weights in its `tap` attribute. Its gradient gives dX and dH, and hands X, H and the
 * output's gradient to the tap instead of three weight gradients of its own.
 */
export const TAPPED_AFFINE_KERNEL = 'RnnkitAffineTapped';

/**
 * One (W_x, W_h, b) on the gradient tape for a whole forward pass: inputs the three weights,
 * output a token (a float32 scalar, 0) that every `TAPPED_AFFINE_KERNEL` use takes as an input.
 * Its gradient runs after all of theirs (the tape runs backward) and sums them as one product
 * over the stacked steps, [X_0..X_T H_0..H_T 1]^T [G_0..G_T], instead of one product per step and
 * the engine's add of every step's weight-sized result into the last.
 */
export const WEIGHT_TAP_KERNEL = 'RnnkitWeightTap';

/**
 * The weight gradients a `WEIGHT_TAP_KERNEL`'s gradient takes from a `WeightGradStream` (no
 * inputs; the stream in its `stream` attribute): dW_x, dW_h and db, as the stream summed them.
 */
export const STREAMED_WEIGHT_GRADS_KERNEL = 'RnnkitStreamedWeightGrads';

/** What one use of tapped weights leaves for the tap's gradient, and in which backward pass. */
interface TappedUse {
  x: tf.Tensor2D;
  h: tf.Tensor2D;
  g: tf.Tensor2D;
  pass: object;
}

/** A (W_x, W_h, b) tapped for one forward pass, and what its uses leave for the backward pass. */
class WeightTap {
  /** Uses so far in the forward pass: the next use's place in `uses`. */
  count = 0;
  /** By forward order, filled by the uses' gradients (a use off the way to the result leaves a hole). */
  uses: (TappedUse | undefined)[] = [];
  /** Where the uses' weight gradients are summed as they arrive instead, by backward pass. */
  readonly streams = new Map<object, WeightGradStream>();

  constructor(
    /** The weights as given: a use must pass these same tensors to take the tap. */
    readonly given: readonly [tf.Tensor2D, tf.Tensor2D, tf.Tensor],
    /**
     * The engine's saved copies of them: their values when the forward pass ran, kept until the
     * gradients are done (the weights themselves may be freed or assigned before that).
     */
    readonly wx: tf.Tensor2D,
    readonly wh: tf.Tensor2D,
    readonly b: tf.Tensor,
    readonly token: tf.Tensor,
    /** The gradient tape the tap is on: a later gradient inside the same `withWeightTaps` needs a new one. */
    readonly tape: object,
  ) {}
}

/**
 * The backward pass running now: the engine calls every gradient function of one pass from the
 * same scope, and a nested pass (a gradient taken inside the differentiated function) from its own.
 */
function backwardPass(): object {
  return tf.engine().state.activeScope;
}

/** Makes a `WeightGradStream` for (Kx, Kh, N) weights, where the backend has them (`registerWasmAffine`). */
let startStream: ((Kx: number, Kh: number, N: number) => WeightGradStream | null) | null = null;

/** Streams not yet disposed, and the backward pass each sums for. */
const liveStreams = new Map<WeightGradStream, object>();

/**
 * The stream summing `tap`'s weight gradients in backward pass `pass`, made at its first use, or
 * null where there is none to make (a taped backward pass sums the uses as ops; another backend).
 * Making one gives back the memory of streams whose pass has ended without reaching its tap (a
 * backward pass that failed).
 */
function streamOf(tap: WeightTap, pass: object): WeightGradStream | null {
  const had = tap.streams.get(pass);
  if (had) return had;
  if (!startStream || tf.engine().isTapeOn() || !heapBackend()) return null;
  const active = new Set<object>(tf.engine().state.scopeStack);
  for (const [stream, p] of liveStreams) if (!active.has(p)) disposeStream(stream);
  const [wx, wh] = [tap.wx.shape, tap.wh.shape] as [number[], number[]];
  const stream = startStream(wx[0] as number, wh[0] as number, wh[1] as number);
  if (!stream) return null;
  tap.streams.set(pass, stream);
  liveStreams.set(stream, pass);
  return stream;
}

function disposeStream(stream: WeightGradStream): void {
  liveStreams.delete(stream);
  stream.dispose();
}

/** The taps of the forward pass running inside `withWeightTaps`, by W_h (null: it cannot be tapped). */
let taps: Map<tf.Tensor, WeightTap | null> | null = null;

/**
 * Runs `forward` (a scratch model's whole forward pass) with `affine`'s weights tapped: where the
 * gradient tape is on and the backend has `TAPPED_AFFINE_KERNEL`, each (W_x, W_h, b) enters the
 * tape once (`WEIGHT_TAP_KERNEL`; a new gradient tape inside the same call gets new taps) and its
 * gradient is one product over all the steps that used it.
 * The tap saves the weights' values as the engine saves any op's inputs, so they may be freed or
 * assigned before the backward pass. A W_h used with another W_x or b than its first goes the
 * untapped way. The saved tensors of the pass are shares of their data (`withSharedSaves`). The
 * cells' code is unchanged; elsewhere (no tape, other backends) this only runs `forward`.
 */
export function withWeightTaps<T>(forward: () => T): T {
  const outer = taps;
  taps = new Map();
  try {
    return withSharedSaves(forward);
  } finally {
    taps = outer;
  }
}

/**
 * A new tensor on `t`'s data (one more reference to it, no copy, no kernel call), tracked in the
 * current scope as an op's output is: what Identity and Reshape to its own shape give on wasm.
 * The backend must count references to its data (`incRef`; wasm, cpu and webgl do).
 */
export function shareTensor<T extends tf.Tensor>(t: T): T {
  const engine = tf.engine() as unknown as SavingEngine;
  const backend = engine.backend;
  if (typeof backend.incRef !== 'function') throw new Error(`shareTensor: the ${tf.getBackend()} backend cannot share a tensor's data (no incRef).`);
  backend.incRef(t.dataId);
  return engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }, backend) as T;
}

/** What `withSharedSaves` and `shareTensor` use of the engine, beyond TensorFlow.js's typings. */
interface SavingEngine {
  state: { gradientDepth: number };
  backend: { incRef?(dataId: object): void };
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
  makeTensorFromTensorInfo(info: tf.TensorInfo, backend?: unknown): tf.Tensor;
  keep<T extends tf.Tensor>(t: T): T;
}

/**
 * Runs `run` with the engine keeping what each op's gradient will read (its saved inputs and
 * outputs) as shares of their data, as rnnkit's wasm Identity copies a tensor, but without running
 * Identity and recording that copy on the gradient tape: for a first-order gradient only (gradient
 * depth 1), whose backward pass runs with the tape off, so the copies never need a place on it. A
 * gradient of a gradient keeps the engine's own copies, which link the saved tensors to the outer
 * tape. Only where the backend has rnnkit's kernels (wasm after `installWasmKernels`); elsewhere it
 * only runs `run`. A scratch GRU step saves about 24 tensors per time step: sharing them spares
 * that many kernel calls and tape nodes, the same values saved.
 */
export function withSharedSaves<T>(run: () => T): T {
  const engine = tf.engine() as unknown as SavingEngine;
  const stock = engine.saveTensorsForBackwardMode;
  if (
    !tf.getKernel(AFFINE_KERNEL, tf.getBackend()) ||
    typeof stock !== 'function' ||
    typeof engine.makeTensorFromTensorInfo !== 'function' ||
    typeof engine.state?.gradientDepth !== 'number'
  )
    return run();
  const own = Object.prototype.hasOwnProperty.call(engine, 'saveTensorsForBackwardMode');
  engine.saveTensorsForBackwardMode = function (this: SavingEngine, tensors: tf.Tensor[]): tf.Tensor[] {
    if (this.state.gradientDepth !== 1 || typeof this.backend.incRef !== 'function' || tensors.some((t) => t.dtype === 'string'))
      return stock.call(this, tensors);
    return tensors.map((t) => this.keep(shareTensor(t)));
  };
  try {
    return run();
  } finally {
    if (own) engine.saveTensorsForBackwardMode = stock;
    else delete (engine as Partial<SavingEngine>).saveTensorsForBackwardMode;
  }
}

/** A tapped use of (Wx, Wh, b) inside `withWeightTaps`, or null where there is none to make. */
function tappedAffine(X: tf.Tensor2D, Wx: tf.Tensor2D, H: tf.Tensor2D, Wh: tf.Tensor2D, b: tf.Tensor): tf.Tensor2D | null {
  // `affineKernel` found AFFINE_KERNEL for this backend: the tapped kernels are registered with it.
  if (!taps || !tf.engine().isTapeOn()) return null;
  const engine = tf.engine();
  let tap = taps.get(Wh);
  if (tap === null) return null;
  if (!tap || tap.tape !== engine.state.activeTape) {
    // The tape node keeps these attributes: the tap made below goes in once the node is there.
    const attrs: { tap?: WeightTap } = {};
    const token = engine.runKernel(WEIGHT_TAP_KERNEL, { wx: Wx, wh: Wh, b }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const node = engine.state.activeTape?.[engine.state.activeTape.length - 1];
    const saved = node?.kernelName === WEIGHT_TAP_KERNEL && node.outputs[0] === token ? node.saved : undefined;
    if (saved?.length !== 3) {
      token.dispose();
      taps.set(Wh, null);
      return null;
    }
    tap = new WeightTap([Wx, Wh, b], saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D, saved[2] as tf.Tensor, token, engine.state.activeTape);
    attrs.tap = tap;
    taps.set(Wh, tap);
  }
  // The same W_h with another W_x or b: an untapped use.
  if (tap.given[0] !== Wx || tap.given[2] !== b) return null;
  const attrs = { tap, use: tap.count++ } as unknown as tf.NamedAttrMap;
  return engine.runKernel(TAPPED_AFFINE_KERNEL, { x: X, h: H, token: tap.token }, attrs) as tf.Tensor2D;
}

/**
 * X W_x + H W_h + b as the scratch cells compute it, (X W_x + H W_h) + b, on any matmul and add:
 * TensorFlow.js's ops where `AFFINE_KERNEL` does not run, the backend's kernels inside it
 * without WebAssembly SIMD.
 */
export function composeAffine<T>(matMul: (a: T, b: T) => T, add: (a: T, b: T) => T, X: T, Wx: T, H: T, Wh: T, b: T): T {
  return add(add(matMul(X, Wx), matMul(H, Wh)), b);
}

/**
 * X W_x + H W_h + b through `AFFINE_KERNEL`, or null where the backend running has no such kernel
 * or the operands do not fit it (float32, X (M, Kx), W_x (Kx, N), H (M, Kh), W_h (Kh, N), b (N)).
 */
export function affineKernel(X: tf.Tensor2D, Wx: tf.Tensor2D, H: tf.Tensor2D, Wh: tf.Tensor2D, b: tf.Tensor): tf.Tensor2D | null {
  if (![X, Wx, H, Wh, b].every((t) => t.dtype === 'float32') || !affineShapes(X.shape, Wx.shape, H.shape, Wh.shape, b.shape)) return null;
  if (!tf.getKernel(AFFINE_KERNEL, tf.getBackend())) return null;
  const tapped = tappedAffine(X, Wx, H, Wh, b);
  if (tapped) return tapped;
  return tf.engine().runKernel(AFFINE_KERNEL, { x: X, h: H, wx: Wx, wh: Wh, b }) as tf.Tensor2D;
}

/** What one use of `affine` leaves for its weight gradients: its X, H and output gradient G. */
type AffineUse = Pick<TappedUse, 'x' | 'h' | 'g'>;

/** dX = G W_x^T and dH = G W_h^T, as the engine asks for them. */
function inputGradients(G: tf.Tensor2D, wx: tf.Tensor2D, wh: tf.Tensor2D): Record<'x' | 'h', () => tf.Tensor> {
  return { x: () => tf.matMul(G, wx, false, true), h: () => tf.matMul(G, wh, false, true) };
}

/**
 * dW_x = X^T G, dW_h = H^T G and db = G's column sums over `uses`' rows in order: one
 * `AFFINE_WEIGHT_GRADS_KERNEL` (one gemm where it runs on rnnkit's), computed now; or, where the
 * backward pass is itself taped (a gradient of a gradient), differentiable ops, as the kernel has
 * no gradient of its own.
 */
function weightGradients(uses: readonly AffineUse[]): Record<'wx' | 'wh' | 'b', () => tf.Tensor> {
  if (tf.engine().isTapeOn()) {
    const stack = (part: keyof AffineUse) => (uses.length === 1 ? (uses[0] as AffineUse)[part] : tf.concat(uses.map((u) => u[part])));
    return {
      wx: () => tf.matMul(stack('x'), stack('g'), true, false),
      wh: () => tf.matMul(stack('h'), stack('g'), true, false),
      b: () => tf.sum(stack('g'), 0),
    };
  }
  // The uses as one stack of rows, copied straight into the gemm's operands.
  const inputs: tf.NamedTensorMap = {};
  uses.forEach((u, i) => {
    inputs[`x${i}`] = u.x;
    inputs[`h${i}`] = u.h;
    inputs[`g${i}`] = u.g;
  });
  const [dWx, dWh, db] = tf.engine().runKernel(AFFINE_WEIGHT_GRADS_KERNEL, inputs, { uses: uses.length }) as tf.Tensor[];
  return { wx: () => dWx as tf.Tensor, wh: () => dWh as tf.Tensor, b: () => db as tf.Tensor };
}

/**
 * The gradient of `AFFINE_KERNEL`, the matmuls' and adds' gradients it stands for: with G the
 * output's gradient, dX = G W_x^T, dH = G W_h^T, dW_x = X^T G, dW_h = H^T G, db = G's column
 * sums. The engine asks only for the inputs on the way to what is differentiated (never the
 * one-hot X in d2l's models). The three weight gradients (`weightGradients`) are computed when
 * the engine reaches the node, whether or not a weight needs its gradient: where none does
 * (frozen weights), they are work for nothing and stay in memory until the backward pass ends.
 */
function registerAffineGradient(): void {
  if (tf.getGradient(AFFINE_KERNEL)) return;
  tf.registerGradient({
    kernelName: AFFINE_KERNEL,
    inputsToSave: ['x', 'h', 'wx', 'wh'],
    gradFunc: (dy, saved) => {
      const G = dy as tf.Tensor2D;
      const [x, h, wx, wh] = saved as tf.Tensor2D[];
      return { ...inputGradients(G, wx as tf.Tensor2D, wh as tf.Tensor2D), ...weightGradients([{ x: x as tf.Tensor2D, h: h as tf.Tensor2D, g: G }]) };
    },
  });
}

/**
 * The gradients of `TAPPED_AFFINE_KERNEL` (dX and dH, the token's 0; X, H and G go to the tap)
 * and of `WEIGHT_TAP_KERNEL`: `weightGradients` over the stacked uses of its own backward pass,
 * in forward order.
 */
function registerTapGradients(): void {
  if (!tf.getGradient(TAPPED_AFFINE_KERNEL)) {
    tf.registerGradient({
      kernelName: TAPPED_AFFINE_KERNEL,
      inputsToSave: ['x', 'h'],
      gradFunc: (dy, saved, attrs) => {
        const G = dy as tf.Tensor2D;
        const [x, h] = saved as tf.Tensor2D[];
        const { tap, use } = attrs as unknown as { tap: WeightTap; use: number };
        const pass = backwardPass();
        return {
          ...inputGradients(G, tap.wx, tap.wh),
          // Asked for only where the tap is on this pass's way to the result, so its gradient
          // runs later in the same pass. The engine keeps saved tensors and every gradient
          // until its backward pass ends.
          token: () => {
            const stream = streamOf(tap, pass);
            const heap = heapBackend(); // there when a stream is
            if (stream && heap) stream.add(heap.typedArrayFromHeap(x as tf.Tensor), heap.typedArrayFromHeap(h as tf.Tensor), heap.typedArrayFromHeap(G));
            else tap.uses[use] = { x: x as tf.Tensor2D, h: h as tf.Tensor2D, g: G, pass };
            return tf.zeros([]);
          },
        };
      },
    });
  }
  if (!tf.getGradient(WEIGHT_TAP_KERNEL)) {
    tf.registerGradient({
      kernelName: WEIGHT_TAP_KERNEL,
      inputsToSave: ['wx', 'wh', 'b'],
      gradFunc: (_dy, saved, attrs) => {
        const [wx, wh, b] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor];
        const { tap } = attrs as unknown as { tap?: WeightTap };
        const pass = backwardPass();
        const uses = tap ? tap.uses.filter((u): u is TappedUse => u?.pass === pass) : [];
        const stream = tap?.streams.get(pass);
        if (tap) {
          tap.uses = [];
          for (const [p, other] of tap.streams) if (p !== pass) disposeStream(other);
          tap.streams.clear();
        }
        if (stream) {
          let grads: tf.Tensor[];
          try {
            grads = tf.engine().runKernel(STREAMED_WEIGHT_GRADS_KERNEL, {}, { stream } as unknown as tf.NamedAttrMap) as tf.Tensor[];
          } catch (err) {
            try {
              disposeStream(stream);
            } catch {
              // The first error says what went wrong.
            }
            throw err;
          }
          disposeStream(stream);
          const [dWx, dWh, db] = grads;
          return { wx: () => dWx as tf.Tensor, wh: () => dWh as tf.Tensor, b: () => db as tf.Tensor };
        }
        if (uses.length === 0) return { wx: () => tf.zerosLike(wx), wh: () => tf.zerosLike(wh), b: () => tf.zerosLike(b) };
        return weightGradients(uses);
      },
    });
  }
}

/**
 * `AFFINE_WEIGHT_GRADS_KERNEL` where rnnkit's gemm does not run (no WebAssembly SIMD): X^T G and
 * H^T G on the BatchMatMul kernel and G's column sums on the Sum kernel registered for the
 * backend, as the ops would run them.
 */
export function composeAffineWeightGrads(args: KernelArgs): tf.TensorInfo[] {
  const { xs, hs, gs } = affineWeightGradOperands(args);
  const backendName = tf.getBackend();
  const mm = tf.getKernel('BatchMatMul', backendName);
  const sum = tf.getKernel('Sum', backendName);
  const concat = tf.getKernel('Concat', backendName);
  if (!mm || !sum || !concat) throw new Error(`${AFFINE_WEIGHT_GRADS_KERNEL}: the ${backendName} backend has no BatchMatMul, Sum or Concat kernel.`);
  const transposed = { transposeA: true, transposeB: false };
  const made: tf.TensorInfo[] = [];
  const stacks: tf.TensorInfo[] = [];
  const backend = args.backend as unknown as { disposeData(dataId: object): void };
  // A stack of uses: their rows one after the other, as the gemm takes them.
  const stacked = (list: tf.TensorInfo[]) => {
    if (list.length === 1) return list[0] as tf.TensorInfo;
    const t = concat.kernelFunc({ inputs: list as unknown as tf.NamedTensorInfoMap, backend: args.backend, attrs: { axis: 0 } }) as tf.TensorInfo;
    stacks.push(t);
    return t;
  };
  try {
    const [x, h, g] = [stacked(xs), stacked(hs), stacked(gs)];
    made.push(mm.kernelFunc({ inputs: { a: x, b: g }, backend: args.backend, attrs: transposed }) as tf.TensorInfo);
    made.push(mm.kernelFunc({ inputs: { a: h, b: g }, backend: args.backend, attrs: transposed }) as tf.TensorInfo);
    made.push(sum.kernelFunc({ inputs: { x: g }, backend: args.backend, attrs: { axis: [0], keepDims: false } }) as tf.TensorInfo);
  } catch (err) {
    for (const t of made) backend.disposeData(t.dataId);
    throw err;
  } finally {
    for (const t of stacks) backend.disposeData(t.dataId);
  }
  return made;
}

/**
 * Registers `AFFINE_KERNEL` for the wasm backend: `fused` runs it (rnnkit's gemm), or returns
 * null where it cannot (no WebAssembly SIMD yet), and the backend's own BatchMatMul and Add kernels
 * compose it. Registers `AFFINE_WEIGHT_GRADS_KERNEL` the same way: `fusedWeightGrads`, else
 * `composeAffineWeightGrads`. Returns false where wasm (or its BatchMatMul, Add or Sum) is not
 * registered.
 */
export function registerWasmAffine(
  fused: (args: KernelArgs) => tf.TensorInfo | null,
  fusedWeightGrads: (args: KernelArgs) => tf.TensorInfo[] | null,
  streams?: (Kx: number, Kh: number, N: number) => WeightGradStream | null,
): boolean {
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  const add = tf.getKernel('Add', 'wasm');
  if (!matMul || !add || !tf.getKernel('Sum', 'wasm')) return false;
  registerAffineGradient();
  registerTapGradients();
  startStream = streams ?? null;
  tf.registerKernel({
    kernelName: STREAMED_WEIGHT_GRADS_KERNEL,
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => {
      const { stream } = args.attrs as unknown as { stream: WeightGradStream };
      const backend = args.backend as unknown as HeapBackend & {
        makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
        disposeData(dataId: object): void;
      };
      const outs = [
        backend.makeOutput([stream.Kx, stream.N], 'float32'),
        backend.makeOutput([stream.Kh, stream.N], 'float32'),
        backend.makeOutput([stream.N], 'float32'),
      ];
      try {
        stream.finish(outs.map((t) => backend.typedArrayFromHeap(t)) as [Float32Array, Float32Array, Float32Array]);
      } catch (err) {
        for (const t of outs) backend.disposeData(t.dataId);
        throw err;
      }
      return outs;
    },
  });
  tf.registerKernel({
    kernelName: AFFINE_WEIGHT_GRADS_KERNEL,
    backendName: 'wasm',
    // Its fallback runs exactly where the forward op's does (no SIMD), which that op's path reports.
    kernelFunc: (args: KernelArgs) => fusedWeightGrads(args) ?? composeAffineWeightGrads(args),
  });
  const affineFunc = (args: KernelArgs): tf.TensorInfo => {
    const viaGemm = fused(args);
    recordOpPath('affine', viaGemm !== null, viaGemm ? undefined : 'no WebAssembly SIMD');
    if (viaGemm) return viaGemm;
    const { x, h, wx, wh, b } = args.inputs as Record<'x' | 'h' | 'wx' | 'wh' | 'b', tf.TensorInfo>;
    const backend = args.backend as unknown as { disposeData(dataId: object): void };
    const made: tf.TensorInfo[] = [];
    const run = (kernel: tf.KernelConfig, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}) => {
      const t = kernel.kernelFunc({ inputs, backend: args.backend, attrs }) as tf.TensorInfo;
      made.push(t);
      return t;
    };
    // The kernels registered now (rnnkit's BatchMatMul, once installed), as the composed ops run them.
    const mm = tf.getKernel('BatchMatMul', 'wasm') ?? matMul;
    const plain = { transposeA: false, transposeB: false };
    const out = composeAffine(
      (p, q) => run(mm, { a: p, b: q }, plain),
      (p, q) => run(add, { a: p, b: q }),
      x,
      wx,
      h,
      wh,
      b,
    );
    for (const t of made) if (t !== out) backend.disposeData(t.dataId);
    return out;
  };
  tf.registerKernel({ kernelName: AFFINE_KERNEL, backendName: 'wasm', kernelFunc: affineFunc });
  tf.registerKernel({
    kernelName: TAPPED_AFFINE_KERNEL,
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => {
      const { x, h } = args.inputs as Record<'x' | 'h', tf.TensorInfo>;
      const { tap } = args.attrs as unknown as { tap: WeightTap };
      return affineFunc({ ...args, inputs: { x, h, wx: tap.wx, wh: tap.wh, b: tap.b } });
    },
  });
  tf.registerKernel({
    kernelName: WEIGHT_TAP_KERNEL,
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => {
      const backend = args.backend as unknown as {
        makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
        typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
      };
      const token = backend.makeOutput([], 'float32');
      backend.typedArrayFromHeap(token).fill(0);
      return token;
    },
  });
  return true;
}
