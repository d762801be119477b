import type { KernelExports } from './simd-module.generated.js';

// A small pool of worker threads that run the kernels' module over the same shared memory. The
// caller records kernel calls (the same calls, with the same byte offsets, that it would make
// itself) into a worker's command list in a SharedArrayBuffer, publishes it with one atomic store,
// does its own share of the work, and spins until the worker's done counter moves. Workers spin a
// while between lists (a wake-up through the OS costs tens of microseconds; a spin, well under
// one), then sleep in Atomics.wait.

/** Int32 slots of a worker's control block: list counter, done counter, ready, list length, error. */
const SEQ = 0;
const DONE = 1;
const READY = 2;
const LEN = 3;
const ERR = 4;
/** Where the command list starts in a block, and the block's size in int32s (256 KiB). */
const LIST = 16;
const BLOCK = 1 << 16;
/** A command: the export's index, then its arguments (every export takes at most 11). */
const ARGS = 12;
const COMMAND = 1 + ARGS;

/** What a worker is started with. */
export interface KernelWorkerInit {
  /** The shared build of the kernels' module, compiled again in the worker. */
  bytes: Uint8Array;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  index: number;
  /** The exports by command index. */
  names: string[];
  /** Polls of the list counter before the worker sleeps in Atomics.wait. */
  spin: number;
}

/**
 * The worker's program: defines `run(init)`, which never returns while the pool lives. The
 * platform appends how it gets `init` (Node: workerData; browsers: the first message).
 */
export const KERNEL_WORKER_SOURCE = `
const run = ({ bytes, memory, control, index, names, spin }) => {
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const fns = names.map((name) => exports[name]);
  const c = new Int32Array(control, index * ${BLOCK * 4}, ${BLOCK});
  let seen = 0;
  Atomics.store(c, ${READY}, 1);
  Atomics.notify(c, ${READY});
  for (;;) {
    let s = Atomics.load(c, ${SEQ});
    for (let polls = 0; s === seen; s = Atomics.load(c, ${SEQ})) {
      if (++polls > spin) {
        Atomics.wait(c, ${SEQ}, seen);
        polls = 0;
      }
    }
    seen = s;
    if (s < 0) return;
    const end = ${LIST} + Atomics.load(c, ${LEN});
    try {
      for (let i = ${LIST}; i < end; i += ${COMMAND}) {
        fns[c[i]](c[i + 1], c[i + 2], c[i + 3], c[i + 4], c[i + 5], c[i + 6], c[i + 7], c[i + 8], c[i + 9], c[i + 10], c[i + 11], c[i + 12]);
      }
    } catch {
      Atomics.store(c, ${ERR}, 1);
    }
    Atomics.store(c, ${DONE}, s);
    Atomics.notify(c, ${DONE});
  }
};
`;

/** How a platform starts workers: Node's worker_threads, or Web Workers in a cross-origin isolated page. */
export interface ThreadHost {
  /** The default thread count (the caller's thread included): the machine's parallelism. */
  parallelism(): number;
  /** Starts a worker running KERNEL_WORKER_SOURCE over `init`. */
  spawn(init: KernelWorkerInit): { terminate(): void };
}

/** Web Workers from a Blob URL, where the page is cross-origin isolated (else shared memory is off). */
function browserHost(): ThreadHost | null {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  if (typeof Worker !== 'function' || g.crossOriginIsolated !== true || typeof Blob !== 'function') return null;
  return {
    parallelism: () => g.navigator?.hardwareConcurrency ?? 1,
    spawn(init) {
      const source = `${KERNEL_WORKER_SOURCE}\nonmessage = (event) => run(event.data);\n`;
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      const worker = new Worker(url);
      worker.postMessage(init);
      URL.revokeObjectURL(url);
      return worker;
    },
  };
}

let host: ThreadHost | null | undefined;
let requested: number | undefined;

/** Sets how workers start (the Node entry of `@rnnkit/cells` installs worker_threads). */
export function setThreadHost(h: ThreadHost | null): void {
  host = h;
}

function threadHost(): ThreadHost | null {
  if (host === undefined) host = browserHost();
  return host;
}

/** Whether this runtime can share WebAssembly memory between threads. */
function sharedMemoryWorks(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Threads the SIMD kernels use, the caller's included: set by `setKernelThreads`, else the
 * machine's parallelism (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency` in
 * a browser), and 1 where threads cannot share memory (a page that is not cross-origin isolated,
 * a runtime without SharedArrayBuffer).
 */
export function kernelThreads(): number {
  const h = threadHost();
  if (!h || !sharedMemoryWorks()) return 1;
  return Math.max(1, Math.floor(requested ?? h.parallelism()));
}

const listeners = new Set<() => void>();

/** Called when the thread count changes, so that kernel instances start again with it. */
export function onKernelThreadsChange(listener: () => void): void {
  listeners.add(listener);
}

/**
 * How many threads rnnkit's WebAssembly kernels use (the caller's included); `'auto'` for the
 * machine's parallelism, the default. 1 turns the worker pool off. Kernel instances made before
 * this start again (with empty memory), so call it before training, not during a pass.
 */
export function setKernelThreads(threads: number | 'auto'): void {
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1 && threads <= 256)) {
    throw new Error(`setKernelThreads: threads must be 'auto' or a whole number from 1 to 256, got ${String(threads)}.`);
  }
  const next = threads === 'auto' ? undefined : threads;
  if (next === requested) return;
  requested = next;
  for (const listener of listeners) listener();
}

/** Kernel calls recorded for a worker: the shape of the module's exports, minus its memory. */
export type KernelCalls = Omit<KernelExports, 'memory'>;

/** The workers of one kernel instance. */
export class KernelPool {
  private readonly control: Int32Array;
  private readonly seq: number[];
  private readonly len: number[];
  private readonly recorders: KernelCalls[];
  private readonly workers: { terminate(): void }[] = [];
  private allReady = false;
  private closed = false;

  private constructor(
    readonly size: number,
    private readonly ids: Map<string, number>,
    control: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(control);
    this.seq = new Array<number>(size).fill(0);
    this.len = new Array<number>(size).fill(0);
    this.recorders = Array.from({ length: size }, (_, w) => this.makeRecorder(w));
  }

  /**
   * Starts `threads - 1` workers over `memory` (a shared memory of the shared build `bytes`), or
   * returns null where that cannot be done. Workers come up asynchronously: until `ready`, the
   * caller runs everything itself.
   */
  static start(bytes: Uint8Array, memory: WebAssembly.Memory, names: string[], threads: number, spin = 100_000): KernelPool | null {
    const h = threadHost();
    if (!h || threads < 2) return null;
    const size = threads - 1;
    const control = new SharedArrayBuffer(size * BLOCK * 4);
    const pool = new KernelPool(size, new Map(names.map((n, i) => [n, i])), control);
    try {
      for (let index = 0; index < size; index++) pool.workers.push(h.spawn({ bytes, memory, control, index, names, spin }));
    } catch {
      pool.close();
      return null;
    }
    return pool;
  }

  /** The threads of a pass: the workers and the caller. */
  get threads(): number {
    return this.size + 1;
  }

  /** Whether every worker has started (checked without waiting). */
  get ready(): boolean {
    if (this.allReady || this.closed) return this.allReady && !this.closed;
    for (let w = 0; w < this.size; w++) if (Atomics.load(this.control, w * BLOCK + READY) !== 1) return false;
    this.allReady = true;
    return true;
  }

  /** Resolves when every worker has started (true), or after `timeoutMs` (false). */
  async whenReady(timeoutMs = 10_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.ready) {
      if (this.closed || Date.now() > until) return false;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return true;
  }

  /** Worker w's recorder: calling one of its kernels appends the call to w's list. */
  calls(w: number): KernelCalls {
    return this.recorders[w] as KernelCalls;
  }

  /** Hands worker w its list; `join(w)` waits for it. */
  start(w: number): void {
    const base = w * BLOCK;
    const s = ((this.seq[w] as number) % 0x3fffffff) + 1;
    this.seq[w] = s;
    Atomics.store(this.control, base + LEN, this.len[w] as number);
    Atomics.store(this.control, base + SEQ, s);
    Atomics.notify(this.control, base + SEQ);
  }

  /** Waits (spinning) until worker w has run its list, and clears the list. */
  join(w: number): void {
    const base = w * BLOCK;
    const s = this.seq[w] as number;
    let polls = 0;
    const t0 = Date.now();
    while (Atomics.load(this.control, base + DONE) !== s) {
      if ((++polls & 0xfffff) === 0 && Date.now() - t0 > 60_000) {
        this.close();
        throw new Error(`rnnkit kernels: worker thread ${w + 1} did not answer within 60 s; the pool is closed and the kernels run on one thread.`);
      }
    }
    this.len[w] = 0;
    if (Atomics.load(this.control, base + ERR) !== 0) {
      Atomics.store(this.control, base + ERR, 0);
      throw new Error(`rnnkit kernels: a kernel call failed in worker thread ${w + 1} (an offset outside the kernels' memory?).`);
    }
  }

  /** Stops the workers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let w = 0; w < this.size; w++) {
      Atomics.store(this.control, w * BLOCK + SEQ, -1);
      Atomics.notify(this.control, w * BLOCK + SEQ);
    }
    for (const worker of this.workers) worker.terminate();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private makeRecorder(w: number): KernelCalls {
    const recorder: Record<string, (...args: number[]) => void> = {};
    for (const [name, id] of this.ids) {
      recorder[name] = (...args: number[]) => {
        if ((this.len[w] as number) + COMMAND > BLOCK - LIST) {
          // A full list runs now, and recording goes on in an empty one.
          this.start(w);
          this.join(w);
        }
        const at = w * BLOCK + LIST + (this.len[w] as number);
        this.control[at] = id;
        for (let i = 0; i < ARGS; i++) this.control[at + 1 + i] = args[i] ?? 0;
        this.len[w] = (this.len[w] as number) + COMMAND;
      };
    }
    return recorder as unknown as KernelCalls;
  }
}

/**
 * Splits `n` rows into at most `parts` runs of whole multiples of `multiple` rows (the gemm's
 * 4-row tiles), first come first served: [start, end) pairs, none empty.
 */
export function splitRows(n: number, parts: number, multiple = 4): [number, number][] {
  const per = Math.max(multiple, Math.ceil(n / parts / multiple) * multiple);
  const runs: [number, number][] = [];
  for (let start = 0; start < n; start += per) runs.push([start, Math.min(n, start + per)]);
  return runs;
}
