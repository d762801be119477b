// rnnkit's WebAssembly SIMD kernels (AssemblyScript, 4 f32 lanes at a time), the module's entry:
// its exports are these functions, in this order. Compiled by `pnpm --filter @rnnkit/cells
// build:wasm` into src/kernels/simd-module.generated.ts. Every pointer argument is a byte offset
// into the module's memory; the caller (src/kernels) lays the buffers out.
//
// - gates.ts: the recurrences' gate work, one forward/backward pair per cell kind;
// - math.ts: exp, sigmoid, tanh and the multiply-add on lanes, and element-wise kernels (add3, expFloats);
// - loss.ts: the dense head's softmax cross-entropy and its gradient;
// - optimizer.ts: the one-pass updates (the gradients' squared norm, SGD's y += a x, Adam);
// - rows.ts: row gathers, their scatter-add gradient, transposes;
// - random.ts: dropout masks drawn by position (the same bits in any order, on any thread);
// - elementwise.ts: tanh over whole buffers, column sums and the sigmoid and tanh gradients (the wasm
//   backend's replaced kernels);
// - gemm.ts: the matmul on packed panels and the packings.

export {
  gruForward,
  gruBackward,
  gruResetBeforeGates,
  gruResetBeforeCandidate,
  gruResetBeforeBackwardCandidate,
  gruResetBeforeBackwardGates,
  rnnForward,
  rnnBackward,
  lstmForward,
  lstmBackward,
} from './gates';
export { add3, expFloats } from './math';
export { softmaxCrossEntropy, softmaxCrossEntropyGrad } from './loss';
export { sumSquares, axpy, adam } from './optimizer';
export { addRows, addRowsStrided, transpose, transposeStrided, gatherRows } from './rows';
export { dropoutMask } from './random';
export { tanhFloats, columnSums, sigmoidGrad, tanhGrad } from './elementwise';
export { packPanels, packPanelsWide, gemm, gemmStrided, packPanelsStrided, packRows, packRowsInto, packColumns, gemmPacked, packPanelsTransposed } from './gemm';
