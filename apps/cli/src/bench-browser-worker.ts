// The browser half of `pnpm bench:browser` (scripts/bench-browser.mjs bundles this file for a Web
// Worker, as apps/web trains in one): `rnnkit bench`'s case, batches and timed steps
// (bench-steps.ts) on tfjs's wasm backend with rnnkit's kernels. Not part of the CLI's build.
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as cells from '@rnnkit/cells';
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
   * Threads for rnnkit's own kernels (`setKernelThreads` of @rnnkit/cells: a worker pool over
   * shared WebAssembly memory, cross-origin isolated pages only); omitted: the kernels' default.
   */
  kernelThreads?: number | 'auto';
  /** Only report what this page offers (no training). */
  probe?: boolean;
}

/** The kernels' thread API, looked up by name: builds of @rnnkit/cells before it have none. */
const threadApi = cells as unknown as { setKernelThreads?: (threads: number | 'auto') => void; kernelThreads?: () => number };

export interface BrowserBenchResult {
  case: string;
  backend: string;
  crossOriginIsolated: boolean;
  /** tfjs-wasm's threads (1 unless its threaded build runs). */
  tfjsThreads: number;
  /** rnnkit's kernel threads, this worker's included (1 where @rnnkit/cells has no threads or the page is not isolated). */
  kernelThreads: number;
  /** Whether this @rnnkit/cells has `setKernelThreads`. */
  kernelThreadsApi: boolean;
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

async function run(
  request: BrowserBenchRequest,
): Promise<BrowserBenchResult | { kernelThreadsApi: boolean; kernelThreads: number; crossOriginIsolated: boolean }> {
  if (request.kernelThreads !== undefined) threadApi.setKernelThreads?.(request.kernelThreads);
  const kernelThreads = threadApi.kernelThreads?.() ?? 1;
  const kernelThreadsApi = typeof threadApi.setKernelThreads === 'function';
  if (request.probe) return { kernelThreadsApi, kernelThreads, crossOriginIsolated: globalThis.crossOriginIsolated === true };
  const c = BENCH_CASES.find((k) => k.id === request.caseId);
  if (!c) throw new Error(`Unknown bench case ${request.caseId}: use ${BENCH_CASES.map((k) => k.id).join(', ')}.`);
  tf.env().set('PROD', true);
  setWasmPaths(request.wasmPrefix);
  if (request.tfjsThreads !== undefined) setThreadsCount(request.tfjsThreads);
  if (!(await tf.setBackend('wasm'))) throw new Error('The wasm backend failed to start in this browser.');
  await tf.ready();
  cells.installWasmKernels();
  // The kernels' workers start asynchronously: time the steps once they run (as a long training would).
  await cells.activeKernels()?.pool?.whenReady();
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
  const kernels = cells.activeKernels();
  const ms = median(times);
  return {
    case: c.id,
    backend: tf.getBackend(),
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    tfjsThreads: multithread ? getThreadsCount() : 1,
    kernelThreads,
    kernelThreadsApi,
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
