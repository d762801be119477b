import type { KernelExports } from './simd-module.generated.js';

// A small pool of worker threads that run the kernels' module over the same shared memory. The
// caller records a job: kernel calls (the same calls, with the same byte offsets, that it would
// make itself) in chunks, into a SharedArrayBuffer. It publishes the job with one atomic store;
// then it and the workers claim chunks one at a time (compare-and-swap on one counter) until none
// is left, so a worker that is late (asleep, or its core busy) costs no waiting: the others take
// its chunks. The caller spins until every claimed chunk is done. Workers poll for the next job
// for a few milliseconds (a wake-up through the OS costs 50-300 microseconds; a poll, well under
// one), which covers the caller's own work between a training step's jobs, then sleep in
// Atomics.wait.

/**
 * Int32 slots of the control block. STATE is (job << 18) | (chunks << 9) | next unclaimed chunk,
 * one word, so that a claim (a compare-and-swap of it) is of the current job's chunk or fails: a
 * late worker holding a finished job's word cannot take a chunk of the next one, whatever its
 * count (a count kept in a slot of its own let one do that). The job number (1..8191, wrapping)
 * tells a worker that a new job is up. -1 stops the workers.
 */
const STATE = 0;
/** Bumped by every job and every background post: what a sleeping worker waits on. */
const WAKE = 1;
const JOB_SHIFT = 18;
const CHUNK_BITS = 9;
const MAX_JOB = (1 << (31 - JOB_SHIFT)) - 1;
const DONE = 2;
const ERR = 3;
/** Workers asleep in Atomics.wait: only then does a job need Atomics.notify. */
const ASLEEP = 4;
/** Workers started. */
const READY = 5;
/** Background chunks posted, claimed and done (counts that only grow), and the lane's error flag. */
const BG_POSTED = 6;
const BG_NEXT = 7;
const BG_DONE = 8;
const BG_ERR = 9;
/** Where chunk i's commands start and end: slots TABLE + 2i and TABLE + 2i + 1. */
const TABLE = 16;
const MAX_CHUNKS = 256; // and chunk indices up to it fit CHUNK_BITS
/** Background chunk i's commands: slots BG_TABLE + 2 (i mod MAX_BG) and the next. */
const BG_TABLE = TABLE + 2 * MAX_CHUNKS;
const MAX_BG = 256; // a power of 2
/** Where a job's commands start, and the block's size in int32s (4 MiB). */
const LIST = BG_TABLE + 2 * MAX_BG;
const BLOCK = 1 << 20;
/** The background lane's commands, from here to the block's end (a job's end here). */
const BG_LIST = BLOCK - (1 << 16);
/** A command: the export's index, then its arguments (every export takes at most 11). */
const ARGS = 12;
const COMMAND = 1 + ARGS;

const FAILED = "rnnkit kernels: a kernel call failed on one of the kernels' threads (an offset outside their memory?).";

/**
 * How long a worker polls for the next job before it sleeps: longer than what a training step
 * does between its jobs on the caller's thread alone (its copies, the optimizer's bookkeeping,
 * TensorFlow.js's ops: about 2 ms for d2l's GRU), so that the next job finds the workers awake.
 * The caller's thread never waits for a polling worker, but the worker holds its core: where
 * threads outnumber free cores (several pools, as with one per data-parallel worker), give each
 * pool fewer threads (`setKernelThreads`).
 */
export const WORKER_SPIN_MS = 5;

/** What a worker is started with. */
export interface KernelWorkerInit {
  /** The shared build of the kernels' module, compiled again in the worker. */
  bytes: Uint8Array;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  /** The exports by command index. */
  names: string[];
  /** Milliseconds a worker polls for a new job before it sleeps in Atomics.wait. */
  spinMs: number;
}

/** The slots `claimChunks` uses. */
const SLOTS = [STATE, JOB_SHIFT, CHUNK_BITS, DONE, ERR, TABLE, COMMAND] as const;
/** The slots `runBackground` uses. */
const BG_SLOTS = [BG_POSTED, BG_NEXT, BG_DONE, BG_ERR, BG_TABLE, MAX_BG, COMMAND] as const;

/** The STATE word of job `job` with `chunks` chunks, `next` of them claimed. */
function jobWord(job: number, chunks: number, next: number): number {
  return (job << JOB_SHIFT) | (chunks << CHUNK_BITS) | next;
}

/** The control block's protocol, for its tests. @internal */
export const controlProtocol = {
  STATE,
  DONE,
  TABLE,
  LIST,
  COMMAND,
  SLOTS,
  jobWord,
  claimChunks,
  runCommands,
};

type Fns = ((...args: number[]) => void)[];

/** Runs the commands in slots start..end (each `COMMAND` slots: an export's index, its arguments). */
function runCommands(c: Int32Array, fns: Fns, start: number, end: number, COMMAND: number): void {
  for (let at = start; at < end; at += COMMAND) {
    (fns[c[at] as number] as (...args: number[]) => void)(
      c[at + 1] as number,
      c[at + 2] as number,
      c[at + 3] as number,
      c[at + 4] as number,
      c[at + 5] as number,
      c[at + 6] as number,
      c[at + 7] as number,
      c[at + 8] as number,
      c[at + 9] as number,
      c[at + 10] as number,
      c[at + 11] as number,
      c[at + 12] as number,
    );
  }
}

/**
 * Claims and runs chunks of the current job (job number `job`) until none is left; shared by the
 * workers (as source text) and the caller. `run` is `runCommands`.
 */
function claimChunks(c: Int32Array, fns: Fns, job: number, slots: readonly number[], run: typeof runCommands): void {
  // The slots come as an argument, so that this function's source text runs as it is in a worker.
  const [STATE, JOB_SHIFT, CHUNK_BITS, DONE, ERR, TABLE, COMMAND] = slots as [number, number, number, number, number, number, number];
  const field = (1 << CHUNK_BITS) - 1;
  for (;;) {
    const v = Atomics.load(c, STATE);
    if (v >>> JOB_SHIFT !== job) return;
    const i = v & field;
    if (i >= ((v >>> CHUNK_BITS) & field)) return;
    if (Atomics.compareExchange(c, STATE, v, v + 1) !== v) continue;
    try {
      run(c, fns, c[TABLE + 2 * i] as number, c[TABLE + 2 * i + 1] as number, COMMAND);
    } catch {
      Atomics.store(c, ERR, 1);
    }
    Atomics.add(c, DONE, 1);
  }
}

/**
 * Claims and runs the background lane's next chunk where there is one (true), else returns false
 * at once; shared by the workers (as source text) and the caller. `run` is `runCommands`.
 */
function runBackground(c: Int32Array, fns: Fns, slots: readonly number[], run: typeof runCommands): boolean {
  const [BG_POSTED, BG_NEXT, BG_DONE, BG_ERR, BG_TABLE, MAX_BG, COMMAND] = slots as [number, number, number, number, number, number, number];
  for (;;) {
    const i = Atomics.load(c, BG_NEXT);
    if (i === Atomics.load(c, BG_POSTED)) return false;
    // The slot is read before the claim: once chunk i is claimed, done chunks may let the caller
    // post chunk i + MAX_BG into the same slot, but not before (a claim that succeeds proves chunk
    // i was not yet done, nor anything after it that the caller could count).
    const slot = BG_TABLE + 2 * (i & (MAX_BG - 1));
    const start = Atomics.load(c, slot);
    const end = Atomics.load(c, slot + 1);
    if (Atomics.compareExchange(c, BG_NEXT, i, i + 1) !== i) continue;
    try {
      run(c, fns, start, end, COMMAND);
    } catch {
      Atomics.store(c, BG_ERR, 1);
    }
    Atomics.add(c, BG_DONE, 1);
    return true;
  }
}

/**
 * The worker's program: defines `run(init)`, which never returns while the pool lives. The
 * platform appends how it gets `init` (Node: workerData; browsers: the first message).
 */
export const KERNEL_WORKER_SOURCE = `
const STATE = ${STATE};
const SLOTS = ${JSON.stringify(SLOTS)};
const BG_SLOTS = ${JSON.stringify(BG_SLOTS)};
const runCommands = ${runCommands.toString()};
const claimChunks = ${claimChunks.toString()};
const runBackground = ${runBackground.toString()};
const run = ({ bytes, memory, control, names, spinMs }) => {
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const fns = names.map((name) => exports[name]);
  const c = new Int32Array(control);
  Atomics.add(c, ${READY}, 1);
  let seen = 0;
  for (;;) {
    let v = Atomics.load(c, STATE);
    // The clock is read every 1024 polls only: a poll is a few nanoseconds, a clock read more.
    let since = performance.now();
    for (let polls = 0; v >>> ${JOB_SHIFT} === seen; v = Atomics.load(c, STATE)) {
      // Between jobs, the background lane's chunks, one at a time (a new job goes first).
      if (runBackground(c, fns, BG_SLOTS, runCommands)) {
        since = performance.now();
        continue;
      }
      if ((++polls & 1023) === 0 && performance.now() - since > spinMs) {
        // WAKE read before the last look at STATE and the lane: a job or a post after it changes
        // WAKE, and the wait returns at once.
        const wake = Atomics.load(c, ${WAKE});
        if (Atomics.load(c, STATE) >>> ${JOB_SHIFT} !== seen || Atomics.load(c, ${BG_NEXT}) !== Atomics.load(c, ${BG_POSTED})) continue;
        Atomics.add(c, ${ASLEEP}, 1);
        Atomics.wait(c, ${WAKE}, wake);
        Atomics.sub(c, ${ASLEEP}, 1);
        since = performance.now();
      }
    }
    if (v === -1) return;
    seen = v >>> ${JOB_SHIFT};
    claimChunks(c, fns, seen, SLOTS, runCommands);
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

let canShare: boolean | undefined;

/** Whether this runtime can share WebAssembly memory between threads (found out once). */
function sharedMemoryWorks(): boolean {
  canShare ??= probeSharedMemory();
  return canShare;
}

function probeSharedMemory(): boolean {
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
 * a browser) up to `MAX_AUTO_THREADS`, and 1 where threads cannot share memory (a page that is
 * not cross-origin isolated, a runtime without SharedArrayBuffer).
 */
export function kernelThreads(): number {
  const h = threadHost();
  if (!h || !sharedMemoryWorks()) return 1;
  return Math.max(1, Math.floor(requested ?? Math.min(h.parallelism(), MAX_AUTO_THREADS)));
}

/**
 * The most threads 'auto' takes: a pass splits into about two chunks a thread of whole 4-row
 * tiles, so d2l's batches of 32 give no work to more; `setKernelThreads(n)` may ask for more.
 */
export const MAX_AUTO_THREADS = 8;

/**
 * Whether the thread count was set (`setKernelThreads(n)`, RNNKIT_THREADS, the CLI's --threads)
 * rather than left to 'auto': then every job that can split does, however small; with 'auto' the
 * kernels keep jobs too small to gain from threads on one (see `Kernels.split`).
 */
export function kernelThreadsForced(): boolean {
  return requested !== undefined;
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

/** Kernel calls as a job records them: the shape of the module's exports, minus its memory. */
export type KernelCalls = Omit<KernelExports, 'memory'>;

/** The workers of one kernel instance, and the job queue they share with the caller. */
export class KernelPool {
  private readonly control: Int32Array;
  private readonly recorder: KernelCalls;
  private readonly workers: { terminate(): void }[] = [];
  private job = 0;
  /** Where the next recorded command goes; -1 once a job overflows the list. */
  private at = LIST;
  /** Where the list being recorded ends (`recordChunks` sets both). */
  private limit = BG_LIST;
  /** Where the background lane's next chunk goes. */
  private bgAt = BG_LIST;
  private allReady = false;
  private closed = false;

  private constructor(
    readonly size: number,
    private readonly ids: Map<string, number>,
    control: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(control);
    this.recorder = this.makeRecorder();
  }

  /**
   * Starts `threads - 1` workers over `memory` (a shared memory of the shared build `bytes`), or
   * returns null where that cannot be done. Workers come up asynchronously: until `ready`, the
   * caller runs everything itself.
   */
  static start(bytes: Uint8Array, memory: WebAssembly.Memory, names: string[], threads: number, spinMs = WORKER_SPIN_MS): KernelPool | null {
    const h = threadHost();
    if (!h || threads < 2) return null;
    const control = new SharedArrayBuffer(BLOCK * 4);
    const pool = new KernelPool(threads - 1, new Map(names.map((n, i) => [n, i])), control);
    try {
      for (let w = 0; w < pool.size; w++) pool.workers.push(h.spawn({ bytes, memory, control, names, spinMs }));
    } catch {
      pool.close();
      return null;
    }
    return pool;
  }

  /** The threads of a job: the workers and the caller. */
  get threads(): number {
    return this.size + 1;
  }

  /** Workers asleep in Atomics.wait now (a job wakes them, at tens to hundreds of microseconds). */
  get asleep(): number {
    return Atomics.load(this.control, ASLEEP);
  }

  /** Whether every worker has started (checked without waiting). */
  get ready(): boolean {
    if (this.closed) return false;
    if (!this.allReady) this.allReady = Atomics.load(this.control, READY) === this.size;
    return this.allReady;
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

  /**
   * Records `chunks` chunks (`record(i, calls)` makes chunk i's kernel calls on `calls`), then
   * runs them on the workers and this thread, `fns` being this thread's functions by command
   * index. Returns false, having run nothing, when the job does not fit the list (the caller then
   * runs it itself).
   */
  run(chunks: number, record: (i: number, calls: KernelCalls) => void, fns: ((...args: number[]) => void)[]): boolean {
    if (chunks > MAX_CHUNKS) return false;
    const c = this.control;
    if (!this.recordChunks(chunks, record, (i) => TABLE + 2 * i, LIST, BG_LIST)) return false;
    Atomics.store(c, DONE, 0);
    this.job = (this.job % MAX_JOB) + 1;
    Atomics.store(c, STATE, jobWord(this.job, chunks, 0));
    this.wake();
    claimChunks(c, fns, this.job, SLOTS, runCommands);
    this.waitUntil(() => Atomics.load(c, DONE) === chunks);
    if (Atomics.load(c, ERR) !== 0) {
      Atomics.store(c, ERR, 0);
      throw new Error(FAILED);
    }
    return true;
  }

  /**
   * Records `chunks` chunks (as `run` does) and posts them to the background lane without waiting:
   * workers between jobs run them, in any order, and `join` runs what is left. Returns false,
   * having posted nothing, when they do not fit the lane now (the caller then runs them itself).
   */
  post(chunks: number, record: (i: number, calls: KernelCalls) => void): boolean {
    const c = this.control;
    const posted = Atomics.load(c, BG_POSTED);
    if (Atomics.load(c, BG_DONE) === posted) this.bgAt = BG_LIST; // nothing left to read in the lane's list: start it again
    if (posted - Atomics.load(c, BG_DONE) + chunks > MAX_BG) return false;
    if (!this.recordChunks(chunks, record, (i) => BG_TABLE + 2 * ((posted + i) & (MAX_BG - 1)), this.bgAt, BLOCK)) return false;
    this.bgAt = this.at;
    Atomics.store(c, BG_POSTED, posted + chunks);
    this.wake();
    return true;
  }

  /** Runs what is left of the background lane on this thread and waits for the rest; throws where a chunk failed. */
  join(fns: ((...args: number[]) => void)[]): void {
    const c = this.control;
    while (runBackground(c, fns, BG_SLOTS, runCommands));
    // Closed: the chunks its workers had claimed and not finished will never be done.
    if (this.closed && Atomics.load(c, BG_DONE) !== Atomics.load(c, BG_POSTED)) {
      Atomics.store(c, BG_DONE, Atomics.load(c, BG_POSTED));
      throw new Error(
        'rnnkit kernels: the thread pool was closed while background work was running (the thread count changed during a pass?); its results are lost.',
      );
    }
    this.waitUntil(() => Atomics.load(c, BG_DONE) === Atomics.load(c, BG_POSTED));
    if (Atomics.load(c, BG_ERR) !== 0) {
      Atomics.store(c, BG_ERR, 0);
      throw new Error(FAILED);
    }
  }

  /**
   * Records `chunks` chunks' commands into the list from `start` (up to `limit`), chunk i's range
   * into slots `slot(i)` and the next; false where they do not fit (nothing may run them then).
   */
  private recordChunks(chunks: number, record: (i: number, calls: KernelCalls) => void, slot: (i: number) => number, start: number, limit: number): boolean {
    const c = this.control;
    this.at = start;
    this.limit = limit;
    for (let i = 0; i < chunks; i++) {
      c[slot(i)] = this.at;
      record(i, this.recorder);
      if (this.at < 0) return false;
      c[slot(i) + 1] = this.at;
    }
    return true;
  }

  /** Whether the background lane has chunks not yet done. */
  get busy(): boolean {
    return Atomics.load(this.control, BG_DONE) !== Atomics.load(this.control, BG_POSTED);
  }

  /** Tells sleeping workers that a job or a post is up. */
  private wake(): void {
    Atomics.add(this.control, WAKE, 1);
    if (Atomics.load(this.control, ASLEEP) > 0) Atomics.notify(this.control, WAKE);
  }

  /** Spins until `done()`; closes the pool and throws after 60 s (a worker lost). */
  private waitUntil(done: () => boolean): void {
    let polls = 0;
    const t0 = Date.now();
    while (!done()) {
      if ((++polls & 0xffff) === 0 && Date.now() - t0 > 60_000) {
        this.close();
        throw new Error('rnnkit kernels: a worker thread did not finish its part within 60 s; the pool is closed and the kernels run on one thread.');
      }
    }
  }

  /** Stops the workers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Background chunks the workers have claimed finish first (for a second at most: a lost
    // worker's never do); `join` runs the rest on the caller.
    const until = Date.now() + 1000;
    while (Atomics.load(this.control, BG_DONE) !== Atomics.load(this.control, BG_NEXT) && Date.now() < until);
    Atomics.store(this.control, STATE, -1);
    this.wake();
    for (const worker of this.workers) worker.terminate();
  }

  private makeRecorder(): KernelCalls {
    const recorder: Record<string, (...args: number[]) => void> = {};
    const c = this.control;
    for (const [name, id] of this.ids) {
      recorder[name] = (...args: number[]) => {
        if (this.at < 0) return;
        if (this.at + COMMAND > this.limit) {
          this.at = -1; // too long for one job: the caller runs it itself
          return;
        }
        c[this.at] = id;
        for (let i = 0; i < ARGS; i++) {
          const arg = args[i] ?? 0;
          // A job holds 32-bit integers: a float argument would arrive truncated.
          if (!Number.isInteger(arg))
            throw new Error(`rnnkit kernels: ${name} got ${arg} in a thread job, which holds integer arguments only; call it directly.`);
          c[this.at + 1 + i] = arg;
        }
        this.at += COMMAND;
      };
    }
    return recorder as unknown as KernelCalls;
  }
}

/**
 * Splits `n` rows into at most `parts` runs of whole multiples of `multiple` rows (the gemm's
 * 4-row tiles), first come first served: [start, end) pairs, none empty. The runs differ by at
 * most one multiple (the last may be short of it), so that no thread is left with a larger share:
 * 257 rows in 4 runs are 68, 64, 64 and 61, where runs of the largest size were 68, 68, 68, 53.
 */
export function splitRows(n: number, parts: number, multiple = 4): [number, number][] {
  const blocks = Math.ceil(n / multiple);
  const count = Math.max(1, Math.min(parts, blocks));
  const per = Math.floor(blocks / count);
  const extra = blocks % count;
  const runs: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < count && start < n; i++) {
    const end = Math.min(n, start + (per + (i < extra ? 1 : 0)) * multiple);
    runs.push([start, end]);
    start = end;
  }
  return runs;
}
