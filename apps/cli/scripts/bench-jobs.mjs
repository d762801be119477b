// `pnpm bench:jobs`: where a training step of one `rnnkit bench` case spends its time. Each job of
// rnnkit's kernels (every `Kernels.split`: a recurrence, a product, a packing) is timed and named by
// the code that made it; what is left of the step runs outside the kernels' threads (TensorFlow.js,
// copies between its memory and the kernels', the optimizer's bookkeeping). It prints figures; it
// is not a test. Run after `pnpm build`, on a quiet machine (or under `chrt -f 10`).
import '@rnnkit/cells/relaxed-simd';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { SimdKernels, installWasmKernels, setKernelThreads } from '@rnnkit/cells';
import { BENCH_CASES } from '@rnnkit/cli';
import { loadDataTimeMachine } from '@rnnkit/data';
import { createLanguageModel } from '@rnnkit/models';
import { makeOptimizer, trainEpoch } from '@rnnkit/training';

const { values: opts } = parseArgs({
  options: {
    case: { type: 'string', default: 'fused-gru-256' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '16' },
    top: { type: 'string', default: '12' },
  },
});
const c = BENCH_CASES.find((k) => k.id === opts.case);
if (!c) throw new Error(`Unknown case ${opts.case}: use ${BENCH_CASES.map((k) => k.id).join(', ')}.`);
const steps = Number(opts.steps);
setKernelThreads(Number(opts.threads));
await tf.setBackend('wasm');
installWasmKernels();

const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: 0 });
const corpus = [...loader];
const batches = Array.from({ length: steps }, (_, i) => corpus[i % corpus.length]);
const model = createLanguageModel({
  cell: c.cell,
  implementation: c.impl,
  numHiddens: c.hidden,
  numLayers: c.layers,
  bidirectional: false,
  vocabSize: vocab.size,
  seed: 0,
});
const optimizer = makeOptimizer('sgd', 1);
const options = { theta: 1, useRandomIter: c.randomIter };

// Each job timed, by the caller's frame (function, file:line in the built code).
const split = SimdKernels.prototype.split;
const jobs = new Map();
let timing = false;
SimdKernels.prototype.split = function (runs, body, work) {
  if (!timing) return split.call(this, runs, body, work);
  const started = performance.now();
  split.call(this, runs, body, work);
  const ms = performance.now() - started;
  const frame = (new Error().stack?.split('\n')[2] ?? '')
    .trim()
    .replace(/^at /, '')
    .replace(/\(?file:\/\/.*\/([\w-]+\/dist\/[^)]*)\)?/, '$1');
  // By caller and size, so that one caller's products of different shapes stay apart.
  const key = `${frame}\u0000${work}`;
  const job = jobs.get(key) ?? { frame, ms: 0, calls: 0, work };
  job.ms += ms;
  job.calls++;
  jobs.set(key, job);
};

trainEpoch(model, batches.slice(0, 3), optimizer, options); // warm-up: compiles, kept operands
timing = true;
const started = performance.now();
trainEpoch(model, batches, optimizer, options);
const stepMs = (performance.now() - started) / steps;
timing = false;

const rows = [...jobs.entries()].sort((a, b) => b[1].ms - a[1].ms);
const inJobs = rows.reduce((sum, [, j]) => sum + j.ms, 0) / steps;
console.log(
  `${c.id}, ${opts.threads} thread(s), ${steps} steps: ${stepMs.toFixed(2)} ms a step, ${inJobs.toFixed(2)} ms in kernel jobs, ${(stepMs - inJobs).toFixed(2)} ms outside them`,
);
console.log(`${'ms/step'.padStart(8)} ${'calls'.padStart(6)}  ${'work'.padStart(11)}  job (caller; work: multiply-adds or floats moved)`);
for (const [, j] of rows.slice(0, Number(opts.top))) {
  console.log(`${(j.ms / steps).toFixed(2).padStart(8)} ${(j.calls / steps).toFixed(1).padStart(6)}  ${String(j.work ?? '').padStart(11)}  ${j.frame}`);
}
model.dispose();
optimizer.dispose();
process.exit(0);
