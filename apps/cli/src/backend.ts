import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels, keepNodeErrorReporting } from '@rnnkit/cells';

export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
const NATIVE: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

async function loadNative(choice: 'tensorflow-gpu' | 'tensorflow'): Promise<string | null> {
  try {
    await import(NATIVE[choice]);
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? String(err);
  }
}

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Picks the backend (apps do this, never the libraries): `auto` takes tfjs-node-gpu, then
 * tfjs-node when installed and loadable, else wasm: with rnnkit's kernels it trains every model
 * faster than cpu (`rnnkit bench`; the figures are in the models README). Returns a description of what it chose. `replacementKernels: false` keeps the
 * stock wasm kernels (`rnnkit bench`'s wasm-stock; rnnkit's, once installed, stay installed).
 */
export async function selectBackend(choice: BackendChoice, options: { replacementKernels?: boolean } = {}): Promise<string> {
  tf.env().set('PROD', true); // rnnkit prints its own backend line instead of tfjs's hint
  if (choice === 'auto') {
    for (const native of ['tensorflow-gpu', 'tensorflow'] as const) {
      if ((await loadNative(native)) === null && (await tf.setBackend('tensorflow'))) return `tensorflow (${NATIVE[native]})`;
    }
    choice = 'wasm';
  }
  if (choice === 'tensorflow-gpu' || choice === 'tensorflow') {
    const why = await loadNative(choice);
    if (why !== null) {
      throw new Error(
        `Backend ${choice} is not available: ${NATIVE[choice]} could not be loaded (${why}). Install it with "npm install ${NATIVE[choice]}"${choice === 'tensorflow-gpu' ? ' on a machine with CUDA 11.2 and cuDNN 8' : ''}, or use --backend wasm.`,
      );
    }
    await tf.setBackend('tensorflow');
    return `tensorflow (${NATIVE[choice]})`;
  }
  if (choice !== 'wasm' && choice !== 'cpu') {
    throw new Error(`Unknown backend "${String(choice)}": use auto, tensorflow-gpu, tensorflow, wasm or cpu.`);
  }
  if (!(await tf.setBackend(choice))) throw new Error(`Backend ${choice} failed to initialise.`);
  await tf.ready();
  if (choice === 'wasm') keepNodeErrorReporting();
  if (choice === 'wasm' && options.replacementKernels !== false) installWasmKernels();
  return choice;
}

/**
 * How a worker thread sets up the same backend as this thread (see `DataParallelTrainer`), from
 * what `selectBackend` returned.
 */
export function workerBackendSetup(selected: string): { imports: string[]; backend: string; afterBackend: { module: string; exportName: string }[] } {
  const native = /\((@tensorflow\/tfjs-node(?:-gpu)?)\)/.exec(selected)?.[1];
  if (native) return { imports: [native], backend: 'tensorflow', afterBackend: [] };
  if (selected === 'wasm') {
    return {
      imports: [import.meta.resolve('@tensorflow/tfjs-backend-wasm')],
      backend: 'wasm',
      afterBackend: [{ module: import.meta.resolve('@rnnkit/cells'), exportName: 'installWasmKernels' }],
    };
  }
  return { imports: [import.meta.resolve('@tensorflow/tfjs-backend-cpu')], backend: 'cpu', afterBackend: [] };
}
