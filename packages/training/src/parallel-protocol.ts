/** Messages between `DataParallelTrainer` and its worker threads. */
import type { LanguageModelConfig } from '@rnnkit/models';

/** A module the worker imports, and optionally a named export it calls or constructs. */
export interface ModuleRef {
  /** A URL (`import.meta.resolve(...)`) or a specifier the worker can resolve. */
  module: string;
  exportName: string;
}

export interface WorkerSetup {
  /** Modules imported first, for their side effects (a backend such as @tensorflow/tfjs-backend-wasm). */
  imports: string[];
  /** `tf.setBackend(backend)`. */
  backend: string;
  /** Functions called once the backend is ready (e.g. `installWasmKernels` of @rnnkit/cells). */
  afterBackend: ModuleRef[];
  /**
   * The model: a `LanguageModelConfig` (built with `createLanguageModel` of @rnnkit/models), or a
   * model class and its constructor options. It must build the same variables, in the same
   * order, as the main thread's model.
   */
  model: { config: LanguageModelConfig } | (ModuleRef & { options: unknown });
}

export type ToWorker =
  | { type: 'init'; setup: WorkerSetup }
  | { type: 'step'; X: Int32Array; Y: Int32Array; batchSize: number; numSteps: number; reset: boolean; weights: Float32Array[] }
  | { type: 'close' };

export type FromWorker = { type: 'ready'; names: string[] } | { type: 'grads'; loss: number; grads: Float32Array[] } | { type: 'error'; message: string };
