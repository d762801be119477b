// Node only (worker_threads): import from '@rnnkit/training/parallel'.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInts, type SeqBatch } from '@rnnkit/data';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import { PartStep } from './parallel-part.js';
import { applyClippedGradients } from './step.js';
import type { FromWorker, ToWorker, WorkerSetup } from './parallel-protocol.js';
import type { MinibatchStepper } from './train.js';

export type { WorkerSetup, ModuleRef } from './parallel-protocol.js';

function workerUrl(): URL {
  const sibling = new URL('./parallel-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  // Running from source (tests): the worker must come from the build.
  const built = new URL('../dist/parallel-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error('parallel-worker.js is missing: build @rnnkit/training first (pnpm build).');
}

class WorkerHandle {
  private pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | null = null;
  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      if (m.type === 'error') p.reject(new Error(`worker: ${m.message}`));
      else p.resolve(m);
    });
    worker.on('error', (err) => {
      this.pending?.reject(err);
      this.pending = null;
    });
  }

  request(message: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.pending) throw new Error('A worker request is already pending.');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message, transfer);
    });
  }
}

export interface DataParallelOptions {
  /** Worker threads besides the calling thread. Default 1 (two cores in all). */
  workers?: number;
}

/**
 * Data-parallel training on several threads of one machine: each minibatch's rows are split
 * between the calling thread and `workers` worker threads, each holding a copy of the model (and
 * its own rows' recurrent state). Every step sends the current weights out, computes the mean
 * loss's gradients on each part at the same time, combines them weighted by rows (the gradient of
 * the whole minibatch's mean loss, up to float rounding), clips and updates once on this thread.
 * Pass it to `trainLanguageModel` as `stepper`. The workers need the backend and model set up the
 * same way as here (`WorkerSetup`).
 */
export class DataParallelTrainer implements MinibatchStepper {
  private readonly own: PartStep;

  private constructor(
    private readonly model: RecurrentLanguageModel,
    private readonly workers: WorkerHandle[],
  ) {
    this.own = new PartStep(model);
  }

  static async create(model: RecurrentLanguageModel, setup: WorkerSetup, options: DataParallelOptions = {}): Promise<DataParallelTrainer> {
    const count = options.workers ?? 1;
    checkPositiveInts({ workers: count });
    const url = workerUrl();
    const handles = Array.from({ length: count }, () => new WorkerHandle(new Worker(url)));
    const trainer = new DataParallelTrainer(model, handles);
    try {
      const names = Object.keys(model.namedVariables());
      for (const h of handles) {
        const ready = await h.request({ type: 'init', setup });
        if (ready.type !== 'ready' || ready.names.join() !== names.join()) {
          throw new Error(
            `The worker's model has variables ${ready.type === 'ready' ? ready.names.join(', ') : '?'}, this one ${names.join(', ')}: build it with the same options.`,
          );
        }
      }
    } catch (err) {
      await trainer.dispose();
      throw err;
    }
    return trainer;
  }

  /** Rows [start, end) of each part: the calling thread takes the first share. */
  private parts(batchSize: number): [number, number][] {
    const n = this.workers.length + 1;
    return Array.from({ length: n }, (_, i) => [Math.round((i * batchSize) / n), Math.round(((i + 1) * batchSize) / n)] as [number, number]);
  }

  async step(batch: SeqBatch, reset: boolean, optimizer: tf.Optimizer, theta: number): Promise<{ loss: number; gradNorm: number }> {
    const { batchSize, numSteps } = batch;
    if (batchSize < this.workers.length + 1) throw new RangeError(`A minibatch of ${batchSize} rows cannot be split over ${this.workers.length + 1} threads.`);
    const parts = this.parts(batchSize);
    const vars = this.model.trainableVariables;
    const rows = (a: Int32Array, [s, e]: [number, number]) => a.slice(s * numSteps, e * numSteps);
    // Start the workers first so they compute while this thread does its share.
    const values = vars.map((v) => v.dataSync() as Float32Array);
    const replies = this.workers.map((h, i) => {
      const part = parts[i + 1] as [number, number];
      const weights = values.map((v) => Float32Array.from(v)); // one copy per worker: it is transferred
      const X = rows(batch.X, part);
      const Y = rows(batch.Y, part);
      return h.request({ type: 'step', X, Y, batchSize: part[1] - part[0], numSteps, reset, weights }, [
        X.buffer as ArrayBuffer,
        Y.buffer as ArrayBuffer,
        ...weights.map((w) => w.buffer as ArrayBuffer),
      ]);
    });
    const own = parts[0] as [number, number];
    const ownRows = own[1] - own[0];
    const { loss: ownLoss, grads } = this.own.run(rows(batch.X, own), rows(batch.Y, own), ownRows, numSteps, reset);
    const results = await Promise.all(replies);
    // Mean over all rows: each part's mean loss and gradient weighted by its share of the rows.
    const workerParts = results.map((r, i) => {
      if (r.type !== 'grads') throw new Error('unexpected worker reply');
      const [s, e] = parts[i + 1] as [number, number];
      return { grads: r.grads, share: (e - s) / batchSize, loss: r.loss };
    });
    const loss = workerParts.reduce((sum, p) => sum + p.loss * p.share, (ownLoss * ownRows) / batchSize);
    const combined = tf.tidy(() => {
      const out: tf.NamedTensorMap = {};
      vars.forEach((v, k) => {
        let g = tf.mul(grads[v.name] as tf.Tensor, ownRows / batchSize);
        for (const p of workerParts) g = tf.add(g, tf.mul(tf.tensor(p.grads[k] as Float32Array, v.shape, 'float32'), p.share));
        out[v.name] = g;
      });
      return out;
    });
    tf.dispose(grads);
    return { loss, gradNorm: applyClippedGradients(combined, optimizer, theta) };
  }

  /** Stops the workers and frees this thread's state. */
  async dispose(): Promise<void> {
    this.own.dispose();
    await Promise.all(
      this.workers.map(async (h) => {
        h.worker.postMessage({ type: 'close' } satisfies ToWorker);
        await h.worker.terminate();
      }),
    );
  }
}
