// The browser half of `pnpm bench:browser` (scripts/bench-browser.mjs bundles this file for a Web
// Worker, as apps/web trains in one): `rnnkit bench`'s case, batches and timed steps
// (bench-steps.ts) on tfjs's wasm backend with rnnkit's kernels. Not part of the CLI's build.
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels, simdKernels } from '@rnnkit/cells';
import { createLanguageModel } from '@rnnkit/models';
import { BENCH_CASES, benchBatches, benchModelConfig, benchTokensPerSecond, timeSteps } from './bench-steps.js';
import { median } from './median.js';

export interface BrowserBenchRequest {
  caseId: string;
  steps: number;
  warmup: number;
  /** Where the backend's .wasm files are served (a URL prefix ending in /). */
  wasmPrefix: string;
  /** tfjs-wasm's thread count in a cross-origin isolated page (its threaded build); omitted: tfjs picks. */
  tfjsThreads?: number;
  /**
   * Threads for rnnkit's own kernels. Hook for the threaded kernel mode of @rnnkit/cells (a worker
   * pool over shared WebAssembly memory): when it exists, set its thread count from this here
   * and report what it used as `kernelThreads`. Until then the kernels run on this worker alone.
   */
  kernelThreads?: number;
}

export interface BrowserBenchResult {
  case: string;
  backend: string;
  crossOriginIsolated: boolean;
  /** tfjs-wasm's threads (1 unless its threaded build runs). */
  tfjsThreads: number;
  /** rnnkit's kernel threads (1 until @rnnkit/cells has a threaded mode). */
  kernelThreads: number;
  /** The wasm backend's build: SIMD, and threaded SIMD (which needs cross-origin isolation). */
  wasmSimd: boolean;
  wasmThreaded: boolean;
  /** The rnnkit kernels' build: relaxed SIMD (fused multiply-add) or plain SIMD; null if they did not load. */
  simd: 'relaxed' | 'plain' | null;
  cores: number;
  msPerStep: number;
  tokensPerSecond: number;
  leakedTensors: number;
  steps: number;
}

async function run(request: BrowserBenchRequest): Promise<BrowserBenchResult> {
  const c = BENCH_CASES.find((k) => k.id === request.caseId);
  if (!c) throw new Error(`Unknown bench case ${request.caseId}: use ${BENCH_CASES.map((k) => k.id).join(', ')}.`);
  tf.env().set('PROD', true);
  setWasmPaths(request.wasmPrefix);
  if (request.tfjsThreads !== undefined) setThreadsCount(request.tfjsThreads);
  if (!(await tf.setBackend('wasm'))) throw new Error('The wasm backend failed to start in this browser.');
  await tf.ready();
  installWasmKernels();
  const multithread = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  const { batches, vocab } = await benchBatches(request.warmup + request.steps, 'in a browser');
  const tensorsBefore = tf.memory().numTensors;
  const model = createLanguageModel(benchModelConfig(c, vocab.size));
  let times: number[];
  try {
    ({ times } = await timeSteps(model, batches, undefined, c, request.warmup, tf.memory().numBytes));
  } finally {
    model.dispose();
  }
  const kernels = simdKernels();
  const ms = median(times);
  return {
    case: c.id,
    backend: tf.getBackend(),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    tfjsThreads: multithread ? getThreadsCount() : 1,
    kernelThreads: 1,
    wasmSimd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    wasmThreaded: multithread,
    simd: kernels ? (kernels.relaxed ? 'relaxed' : 'plain') : null,
    cores: navigator.hardwareConcurrency,
    msPerStep: +ms.toFixed(1),
    tokensPerSecond: benchTokensPerSecond(ms),
    leakedTensors: tf.memory().numTensors - tensorsBefore,
    steps: times.length,
  };
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<BrowserBenchRequest>) => void) | null; postMessage(message: unknown): void };
scope.onmessage = (e) => {
  run(e.data).then(
    (result) => scope.postMessage({ ok: true, result }),
    (err: unknown) => scope.postMessage({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }),
  );
};
