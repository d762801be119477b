import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KERNEL_WORKER_SOURCE, type ThreadHost } from './threads.js';

/**
 * Node's worker_threads as the kernels' thread host: each worker evaluates the worker program and
 * runs it over its workerData. Workers are unref'd, so they never keep a process alive.
 */
export const nodeThreadHost: ThreadHost = {
  parallelism: () => availableParallelism(),
  spawn(init) {
    const worker = new Worker(`${KERNEL_WORKER_SOURCE}\nrun(require('node:worker_threads').workerData);\n`, { eval: true, workerData: init });
    worker.unref();
    return { terminate: () => void worker.terminate() };
  },
};

/** RNNKIT_THREADS ("auto" or a whole number from 1 to 256), or undefined when unset. */
export function threadsFromEnv(value = process.env.RNNKIT_THREADS): number | 'auto' | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (text === 'auto') return 'auto';
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1 && n <= 256)) throw new Error(`RNNKIT_THREADS must be "auto" or a whole number from 1 to 256, got "${text}".`);
  return n;
}
