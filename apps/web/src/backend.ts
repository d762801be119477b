import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from '@rnnkit/cells';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { BackendInfo } from './protocol.js';

/** The smallest module using `f32x4.relaxed_madd`: validates only where relaxed SIMD is on. */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0d,
  0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

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
    relaxedSimd: WebAssembly.validate(RELAXED_SIMD_PROBE),
    threads: multithread ? getThreadsCount() : 1,
    cores: navigator.hardwareConcurrency,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
}
