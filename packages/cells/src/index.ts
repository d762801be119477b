export type { ScratchCell } from './cell.js';
export { VariableOwner, normalVariable, zerosVariable, variableOf, zeroState, gatedParams, param, type Params, type State } from './params.js';
export { rnnCell, rnnParams, rnnState, rnnForward } from './rnn.js';
export { gruCell, gruParams, gruState, gruForward } from './gru.js';
export { lstmCell, lstmParams, lstmState, lstmForward } from './lstm.js';
export {
  RNNModelScratch,
  assignVariables,
  type RecurrentLanguageModel,
  type RNNModelScratchOptions,
} from './model.js';
export { oneHotFloat } from './ops.js';
export { withSharedSaves, withWeightTaps } from './kernels/affine.js';
export { installWasmKernels } from './kernels/backend.js';
export { keepNodeErrorReporting } from './node-errors.js';
export {
  Kernels,
  SPLIT_MIN_WORK,
  WAKE_MIN_WORK,
  activeKernels,
  useKernels,
  kernelsUnavailableReason,
  readInto,
  tensorOfView,
  SimdKernels,
  simdKernels,
  useWasmGates,
} from './kernels/simd.js';
export { GradientsInKernels } from './kernels/gradients.js';
export type { KernelExports } from './kernels/simd-module.generated.js';
export {
  KernelPool,
  kernelThreads,
  kernelThreadsForced,
  MAX_AUTO_THREADS,
  WORKER_SPIN_MS,
  setKernelThreads,
  setThreadHost,
  splitRows,
  type KernelCalls,
  type ThreadHost,
  type KernelWorkerInit,
} from './kernels/threads.js';
export { productRuns } from './kernels/matmul.js';
export { dropoutMaskTensor, dropoutMaskValues, maskKey, type MaskKey } from './kernels/random.js';
export { recordOpPath, watchOpPaths, type OpPath } from './kernels/paths.js';
export { enableRelaxedSimd, hasRelaxedSimd } from './simd-support.js';
