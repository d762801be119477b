import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from '@rnnkit/cells';
import { RNNModel } from '@rnnkit/models';
import { makeOptimizer, trainStep } from '@rnnkit/training';
import { DataParallelTrainer } from '@rnnkit/training/parallel';
await tf.setBackend('wasm'); installWasmKernels();
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const options = { vocabSize: 28, numHiddens: 256, cell: 'gru' as const, seed: 0 };
const model = new RNNModel(options);
const opt = makeOptimizer('sgd', 1);
const stepper = await DataParallelTrainer.create(model, {
  imports: [import.meta.resolve('@tensorflow/tfjs-backend-wasm')], backend: 'wasm',
  afterBackend: [{ module: import.meta.resolve('@rnnkit/cells'), exportName: 'installWasmKernels' }],
  model: { module: import.meta.resolve('@rnnkit/models'), exportName: 'RNNModel', options },
});
const times: number[] = [];
for (let i = 0; i < 40; i++) {
  const X = Int32Array.from({ length: 32 * 35 }, (_, j) => (j * 7 + i) % 28);
  const t0 = performance.now();
  await stepper.step({ X, Y: X, batchSize: 32, numSteps: 35 }, i === 0, opt, 1);
  times.push(performance.now() - t0);
}
console.log('parallel step', med(times.slice(5)).toFixed(1), 'ms');
await stepper.dispose();
