import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { DataParallelTrainer } from '@rnnkit/training/parallel';
import { selectBackend, workerBackendSetup, type BackendChoice } from '../backend.js';
import { createModelFromFlags } from '../lm.js';
import { UsageError } from '../errors.js';
import { median } from '../median.js';
import { BENCH_CASES, benchBatches, benchModelConfig, benchTokensPerSecond, timeSteps, type BenchCase } from '../bench-steps.js';
import { jsonEvent, kernelsInfo, kernelsSummary, startEvent, writeLine, writeNote } from '../progress.js';

export { BENCH_CASES, type BenchCase };

/** 'wasm-stock' is wasm without rnnkit's replacement kernels (it must run before 'wasm'). */
export const BENCH_BACKENDS = ['wasm-stock', 'wasm', 'cpu'] as const;

export interface BenchOptions {
  steps: number;
  warmup: number;
  backends: string[];
  /** Case ids; default all. */
  only?: string[];
  /** Also write the rows to this JSON file. */
  jsonFile?: string;
  /** Also time each case data-parallel over this many extra worker threads (0: not). */
  workers?: number;
  json: boolean;
}

export interface BenchRow {
  backend: string;
  case: string;
  /** Threads of rnnkit's WebAssembly kernels (they split each product and recurrence). */
  threads: number;
  /** Extra data-parallel worker threads, each with its own model copy (`--workers`; 0: none). */
  workers: number;
  /** The SIMD kernels' WebAssembly build: relaxed SIMD (fused multiply-add) or plain SIMD. */
  simd: 'relaxed' | 'plain';
  iteration: 'random' | 'sequential';
  msPerStep: number;
  tokensPerSecond: number;
  /** Peak tensor memory above what was allocated before the case. */
  peakTensorMB: number;
  /** Tensors left over after the case was disposed (0 means no leak). */
  leakedTensors: number;
  rssMB: number;
  steps: number;
}

/** The worker's copy of this run's backend; 'wasm-stock' is wasm without rnnkit's kernels. */
function workerSetup(backend: string) {
  const setup = workerBackendSetup(backend === 'wasm-stock' ? 'wasm' : backend);
  return backend === 'wasm-stock' ? { ...setup, afterBackend: [] } : setup;
}

/**
 * `rnnkit bench` (`pnpm bench`): training throughput (tokens/s from the median step time after
 * warm-up) and peak tensor memory of the fused, layers and scratch models, batch 32 x 35 one-hot
 * steps over The Time Machine's 28 tokens, SGD with clipping at 1, through the same backend
 * selection and epoch loop as `rnnkit train`. Every row says the backend, the threads and the
 * kernels' SIMD build. It prints figures; it is not a test.
 */
export async function runBench(opts: BenchOptions, write: (line: string) => void = writeLine): Promise<BenchRow[]> {
  for (const b of opts.backends) {
    if (!(BENCH_BACKENDS as readonly string[]).includes(b)) throw new UsageError(`Unknown bench backend "${b}": use ${BENCH_BACKENDS.join(', ')}.`);
  }
  const unknown = (opts.only ?? []).filter((id) => !BENCH_CASES.some((c) => c.id === id));
  if (unknown.length) throw new UsageError(`Unknown bench case ${unknown.join(', ')}: use ${BENCH_CASES.map((c) => c.id).join(', ')}.`);
  const selected = opts.only ? BENCH_CASES.filter((c) => opts.only?.includes(c.id)) : BENCH_CASES;
  const backends = [...opts.backends].sort((a, b) => BENCH_BACKENDS.indexOf(a as never) - BENCH_BACKENDS.indexOf(b as never));
  const { batches, vocab } = await benchBatches(opts.warmup + opts.steps);
  const rows: BenchRow[] = [];
  if (opts.json) write(startEvent('bench', null, { backends, cases: selected.map((c) => c.id), steps: opts.steps, warmup: opts.warmup }));
  for (const backend of backends) {
    // wasm-stock runs first: rnnkit's kernels, once installed, stay installed.
    const chosen = await selectBackend(backend === 'wasm-stock' ? 'wasm' : (backend as BackendChoice), { replacementKernels: backend !== 'wasm-stock' });
    // The backend line goes to stderr, as every command's does; the rows name it too.
    if (!opts.json) writeNote(`backend: ${chosen} (${backend === 'wasm-stock' ? 'stock kernels' : kernelsSummary()})`);
    // The table's header after the first backend line, so that stderr's line does not split the table.
    if (!opts.json && backend === backends[0])
      write(
        `${'backend'.padEnd(10)} ${'case'.padEnd(16)} ${'threads'.padStart(7)} ${'workers'.padStart(7)} ${'iteration'.padEnd(10)} ${'ms/step'.padStart(8)} ${'tokens/s'.padStart(9)} ${'tensor MB'.padStart(9)} ${'leaked'.padStart(6)} ${'rss MB'.padStart(6)} simd`,
      );
    const workerCounts = opts.workers ? [0, opts.workers] : [0];
    for (const c of selected) {
      for (const workers of workerCounts) {
        const tensorsBefore = tf.memory().numTensors;
        const bytesBefore = tf.memory().numBytes;
        const config = benchModelConfig(c, vocab.size);
        // The layers GRU can only be d2l's reset-before GRU; createLanguageModel picks that.
        const model = createModelFromFlags(config);
        const stepper = workers > 0 ? await DataParallelTrainer.create(model, { ...workerSetup(backend), model: { config } }, { workers }) : undefined;
        let timed: { times: number[]; peakBytes: number };
        try {
          timed = await timeSteps(model, batches, stepper, c, opts.warmup, bytesBefore);
        } finally {
          await stepper?.dispose();
          model.dispose();
        }
        const ms = median(timed.times);
        const kernels = kernelsInfo();
        const row: BenchRow = {
          backend,
          case: c.id,
          threads: kernels.threads,
          workers,
          simd: kernels.simd,
          iteration: c.randomIter ? 'random' : 'sequential',
          msPerStep: +ms.toFixed(1),
          tokensPerSecond: benchTokensPerSecond(ms),
          peakTensorMB: +(timed.peakBytes / 2 ** 20).toFixed(1),
          leakedTensors: tf.memory().numTensors - tensorsBefore,
          rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
          steps: opts.steps,
        };
        rows.push(row);
        if (opts.json) write(jsonEvent('row', { ...row }));
        else {
          write(
            `${backend.padEnd(10)} ${c.id.padEnd(16)} ${String(row.threads).padStart(7)} ${String(workers).padStart(7)} ${row.iteration.padEnd(10)} ${row.msPerStep.toFixed(1).padStart(8)} ${String(row.tokensPerSecond).padStart(9)} ${row.peakTensorMB.toFixed(1).padStart(9)} ${String(row.leakedTensors).padStart(6)} ${String(row.rssMB).padStart(6)} ${row.simd}`,
          );
        }
      }
    }
  }
  if (opts.jsonFile) await writeFile(opts.jsonFile, JSON.stringify(rows, null, 2));
  if (opts.json) write(jsonEvent('done', { rows: rows.length, ...(opts.jsonFile ? { jsonFile: opts.jsonFile } : {}) }));
  return rows;
}
