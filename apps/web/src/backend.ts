import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { hasRelaxedSimd, installWasmKernels, kernelThreads, activeKernels } from '@rnnkit/cells';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { BackendInfo } from './protocol.js';

/**
 * The wasm backend from binaries Vite serves next to the page, with rnnkit's kernels. tfjs picks
 * the threaded SIMD build itself where the page is cross-origin isolated (SharedArrayBuffer), and
 * rnnkit's gate kernels pick their relaxed-SIMD build where the engine validates it.
 */
export async function setupWasmBackend(): Promise<BackendInfo> {
  tf.env().set('PROD', true);
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmUrl,
    'tfjs-backend-wasm-simd.wasm': simdUrl,
    'tfjs-backend-wasm-threaded-simd.wasm': threadedSimdUrl,
  });
  if (!(await tf.setBackend('wasm'))) throw new Error('The TensorFlow.js wasm backend failed to start in this browser.');
  await tf.ready();
  installWasmKernels();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const multithread = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  return {
    backend: tf.getBackend(),
    simd,
    relaxedSimd: hasRelaxedSimd(),
    threads: multithread ? getThreadsCount() : 1,
    kernelThreads: await kernelThreadsStarted(),
    cores: navigator.hardwareConcurrency,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
}

/** The kernels' threads once their workers have started (they start with the kernels' module). */
async function kernelThreadsStarted(): Promise<number> {
  for (let i = 0; i < 500 && !activeKernels(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const pool = activeKernels()?.pool;
  if (pool) await pool.whenReady(5000);
  return activeKernels()?.threads ?? kernelThreads();
}
