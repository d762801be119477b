import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { loadDataTimeMachine, type SeqBatch } from '@rnnkit/data';
import { installWasmKernels, type State } from '@rnnkit/cells';
import type { CellKind } from '@rnnkit/models';
import { makeOptimizer, trainStep } from '@rnnkit/training';
import { DataParallelTrainer } from '@rnnkit/training/parallel';
import { workerBackendSetup } from '../backend.js';
import { createModelFromFlags, type LanguageModelConfig } from '../lm.js';
import { LOCAL_COPY_HINT, UsageError } from '../errors.js';
import { median } from '../median.js';
import { writeLine } from '../progress.js';

export interface BenchCase {
  id: string;
  impl: 'fused' | 'layers' | 'scratch';
  cell: CellKind;
  hidden: number;
  randomIter: boolean;
}

export const BENCH_CASES: readonly BenchCase[] = [
  ...(['fused', 'layers'] as const).flatMap((impl) =>
    (['gru', 'rnn', 'lstm'] as const).map((cell) => ({ id: `${impl}-${cell}-256`, impl, cell, hidden: 256, randomIter: false })),
  ),
  { id: 'scratch-gru-512', impl: 'scratch', cell: 'gru', hidden: 512, randomIter: true },
];

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
  /** Threads per step (1 unless data-parallel). */
  threads: number;
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
 * steps over The Time Machine's 28 tokens, SGD with clipping at 1. It prints figures; it is not a test.
 */
export async function runBench(opts: BenchOptions, write: (line: string) => void = writeLine): Promise<BenchRow[]> {
  for (const b of opts.backends) {
    if (!(BENCH_BACKENDS as readonly string[]).includes(b)) throw new UsageError(`Unknown bench backend "${b}": use ${BENCH_BACKENDS.join(', ')}.`);
  }
  const unknown = (opts.only ?? []).filter((id) => !BENCH_CASES.some((c) => c.id === id));
  if (unknown.length) throw new UsageError(`Unknown bench case ${unknown.join(', ')}: use ${BENCH_CASES.map((c) => c.id).join(', ')}.`);
  const selected = opts.only ? BENCH_CASES.filter((c) => opts.only?.includes(c.id)) : BENCH_CASES;
  const backends = [...opts.backends].sort((a, b) => BENCH_BACKENDS.indexOf(a as never) - BENCH_BACKENDS.indexOf(b as never));
  tf.env().set('PROD', true);
  const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: 0, source: { localCopyHint: LOCAL_COPY_HINT } });
  const batches: SeqBatch[] = [...loader];
  const rows: BenchRow[] = [];
  if (!opts.json) write(`${'backend'.padEnd(10)} ${'case'.padEnd(16)} ${'threads'.padStart(7)} ${'iteration'.padEnd(10)} ${'ms/step'.padStart(8)} ${'tokens/s'.padStart(9)} ${'tensor MB'.padStart(9)} ${'leaked'.padStart(6)} ${'rss MB'.padStart(6)}`);
  for (const backend of backends) {
    if (!(await tf.setBackend(backend === 'wasm-stock' ? 'wasm' : backend))) throw new Error(`Backend ${backend} failed to initialise.`);
    await tf.ready();
    if (backend === 'wasm') installWasmKernels();
    const threadCounts = opts.workers ? [1, opts.workers + 1] : [1];
    for (const c of selected) {
      for (const threads of threadCounts) {
        const tensorsBefore = tf.memory().numTensors;
        const bytesBefore = tf.memory().numBytes;
        const config: LanguageModelConfig = { cell: c.cell, implementation: c.impl, numHiddens: c.hidden, numLayers: 1, bidirectional: false, vocabSize: vocab.size, seed: 0 };
        // The layers GRU can only be d2l's reset-before GRU; createLanguageModel picks that.
        const model = createModelFromFlags(config);
        const stepper =
          threads > 1
            ? await DataParallelTrainer.create(model, { ...workerSetup(backend), model: { config } }, { workers: threads - 1 })
            : null;
        const opt = makeOptimizer('sgd', 1);
        let state: State = stepper ? [] : model.beginState(32);
        const times: number[] = [];
        let peakBytes = 0;
        for (let i = 0; i < opts.warmup + opts.steps; i++) {
          const batch = batches[i % batches.length] as SeqBatch;
          if (stepper) {
            const t0 = performance.now();
            await stepper.step(batch, i === 0 || c.randomIter, opt, 1);
            if (i >= opts.warmup) times.push(performance.now() - t0);
            peakBytes = Math.max(peakBytes, tf.memory().numBytes - bytesBefore);
            continue;
          }
          const X = tf.tensor2d(batch.X, [32, 35], 'int32');
          const Y = tf.tensor2d(batch.Y, [32, 35], 'int32');
          if (c.randomIter) {
            tf.dispose(state);
            state = model.beginState(32);
          }
          const t0 = performance.now();
          const r = trainStep(model, X, Y, state, opt, 1);
          const dt = performance.now() - t0;
          tf.dispose([X, Y, ...state]);
          state = r.state;
          if (i >= opts.warmup) times.push(dt);
          peakBytes = Math.max(peakBytes, tf.memory().numBytes - bytesBefore);
        }
        tf.dispose(state);
        await stepper?.dispose();
        opt.dispose();
        model.dispose();
        const ms = median(times);
        const row: BenchRow = {
          backend,
          case: c.id,
          threads,
          iteration: c.randomIter ? 'random' : 'sequential',
          msPerStep: +ms.toFixed(1),
          tokensPerSecond: Math.round((32 * 35 * 1000) / ms),
          peakTensorMB: +(peakBytes / 2 ** 20).toFixed(1),
          leakedTensors: tf.memory().numTensors - tensorsBefore,
          rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
          steps: opts.steps,
        };
        rows.push(row);
        if (opts.json) write(JSON.stringify({ event: 'row', ...row }));
        else {
          write(
            `${backend.padEnd(10)} ${c.id.padEnd(16)} ${String(threads).padStart(7)} ${row.iteration.padEnd(10)} ${row.msPerStep.toFixed(1).padStart(8)} ${String(row.tokensPerSecond).padStart(9)} ${row.peakTensorMB.toFixed(1).padStart(9)} ${String(row.leakedTensors).padStart(6)} ${String(row.rssMB).padStart(6)}`,
          );
        }
      }
    }
  }
  if (!opts.json) write(JSON.stringify(rows));
  if (opts.jsonFile) await writeFile(opts.jsonFile, JSON.stringify(rows, null, 2));
  return rows;
}
