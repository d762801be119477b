// A worker thread of DataParallelTrainer: holds a copy of the model, takes the current weights and
// its rows of each minibatch, and returns the loss and gradients of those rows.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import { createLanguageModel } from '@rnnkit/models';
import { PartStep } from './parallel-part.js';
import type { FromWorker, ModuleRef, ToWorker } from './parallel-protocol.js';

if (!parentPort) throw new Error('parallel-worker runs inside a worker thread.');
const port = parentPort;
const reply = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function load(ref: ModuleRef): Promise<unknown> {
  const mod = (await import(ref.module)) as Record<string, unknown>;
  if (!(ref.exportName in mod)) throw new Error(`${ref.module} has no export ${ref.exportName}.`);
  return mod[ref.exportName];
}

let model: RecurrentLanguageModel | null = null;
let vars: tf.Variable[] = [];
let part: PartStep | null = null;

port.on('message', (message: ToWorker) => {
  void handle(message).catch((err: unknown) => reply({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
});

async function handle(message: ToWorker): Promise<void> {
  if (message.type === 'close') {
    part?.dispose();
    model?.dispose();
    port.close();
    return;
  }
  if (message.type === 'init') {
    const { setup } = message;
    for (const m of setup.imports) await import(m);
    if (!(await tf.setBackend(setup.backend))) throw new Error(`Backend ${setup.backend} failed to initialise in the worker.`);
    await tf.ready();
    tf.env().set('PROD', true);
    for (const ref of setup.afterBackend) ((await load(ref)) as () => unknown)();
    let built: RecurrentLanguageModel;
    if ('config' in setup.model) built = createLanguageModel(setup.model.config);
    else {
      const Model = (await load(setup.model)) as new (options: unknown) => RecurrentLanguageModel;
      built = new Model(setup.model.options);
    }
    model = built;
    vars = built.trainableVariables;
    part = new PartStep(built);
    reply({ type: 'ready', names: Object.keys(built.namedVariables()) });
    return;
  }
  if (!part) throw new Error('The worker got a step before init.');
  const { X, Y, batchSize, numSteps } = message;
  message.weights.forEach((w, i) => {
    const v = vars[i] as tf.Variable;
    const t = tf.tensor(w, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  });
  const { loss, grads } = part.run(X, Y, batchSize, numSteps, message.reset);
  const arrays = vars.map((v) => Float32Array.from((grads[v.name] as tf.Tensor).dataSync() as Float32Array));
  tf.dispose(grads);
  reply(
    { type: 'grads', loss, grads: arrays },
    arrays.map((a) => a.buffer as ArrayBuffer),
  );
}
