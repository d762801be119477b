import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { installWasmKernels, wasmMatMul } from './backend.js';
import { WeightGradStream } from './matmul.js';
import { Kernels, SPLIT_MIN_WORK, WAKE_MIN_WORK, activeKernels } from './simd.js';
import { nodeThreadHost, threadsFromEnv } from './threads-node.js';
import { controlProtocol, kernelThreads, MAX_AUTO_THREADS, setKernelThreads, setThreadHost, splitRows } from './threads.js';

setThreadHost(nodeThreadHost);

/** Kernels on `threads` threads whose workers have all started. */
async function kernelsOn(threads: number): Promise<Kernels> {
  const k = Kernels.create(threads);
  expect(k.pool).not.toBeNull();
  expect(await k.pool?.whenReady()).toBe(true);
  expect(k.threads).toBe(threads);
  return k;
}

/** A, B (in panels) and two outputs for C (M, N) = A (M, K) B (K, N), filled with fixed values. */
function product(k: Kernels, M: number, K: number, N: number) {
  const L = k.allocLayout({ A: M * K, B: K * N, P: K * N, C1: M * N, C2: M * N });
  const f = k.f32;
  for (let i = 0; i < M * K; i++) f[L.A + i] = Math.sin(i);
  for (let i = 0; i < K * N; i++) f[L.B + i] = Math.cos(0.7 * i);
  k.fn.packPanels(4 * L.P, 4 * L.B, K, N);
  k.fn.gemm(4 * L.C1, 4 * L.A, 4 * L.P, M, K, N);
  const same = () => k.f32.slice(L.C2, L.C2 + M * N).every((v, i) => Object.is(v, k.f32[L.C1 + i]));
  return { L, same };
}

describe('the kernels on worker threads', () => {
  it('split rows into whole tiles, one run per thread at most', () => {
    expect(splitRows(32, 2)).toEqual([
      [0, 16],
      [16, 32],
    ]);
    expect(splitRows(12, 2)).toEqual([
      [0, 8],
      [8, 12],
    ]);
    expect(splitRows(3, 2)).toEqual([[0, 3]]);
    expect(splitRows(768, 3, 8)).toEqual([
      [0, 256],
      [256, 512],
      [512, 768],
    ]);
    expect(splitRows(10, 4)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    // Even runs: a weight gradient's H + 1 rows (the bias row under H) leave no thread a larger share.
    expect(splitRows(257, 4)).toEqual([
      [0, 68],
      [68, 132],
      [132, 196],
      [196, 257],
    ]);
    for (const [n, parts, multiple] of [
      [1, 4, 4],
      [33, 4, 4],
      [100, 3, 8],
      [1120, 4, 4],
      [769, 6, 8],
    ] as const) {
      const runs = splitRows(n, parts, multiple);
      const sizes = runs.map(([a, b]) => b - a);
      expect(runs[0]![0]).toBe(0);
      expect(runs.at(-1)![1]).toBe(n);
      for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBe(runs[i - 1]![1]);
      for (const [a] of runs) expect(a % multiple).toBe(0);
      expect(runs.length).toBeLessThanOrEqual(parts);
      // Whole runs differ by at most one multiple; the last is short of the smallest by less than one.
      const whole = sizes.slice(0, -1);
      if (whole.length > 0) {
        expect(Math.max(...whole) - Math.min(...whole)).toBeLessThanOrEqual(multiple);
        expect(Math.min(...whole) - sizes.at(-1)!).toBeLessThan(multiple);
      }
    }
  });

  for (const threads of [2, 3]) {
    it(`give the single thread's product bit for bit, split by rows or by column panels (${threads} threads)`, async () => {
      const k = await kernelsOn(threads);
      try {
        for (const [M, K, N] of [
          [32, 256, 768],
          [12, 20, 36],
          [9, 7, 4],
        ] as const) {
          const { L, same } = product(k, M, K, N);
          k.split(splitRows(M, threads), (fn, a, b) => fn.gemm(4 * (L.C2 + a * N), 4 * (L.A + a * K), 4 * L.P, b - a, K, N));
          expect(same()).toBe(true);
          k.f32.fill(0, L.C2, L.C2 + M * N);
          k.split(splitRows(N, threads, 8), (fn, a, b) => fn.gemmStrided(4 * (L.C2 + a), 4 * L.A, 4 * (L.P + K * a), M, K, b - a, N));
          expect(same()).toBe(true);
          k.release(L.region);
        }
      } finally {
        k.close();
      }
    });
  }

  it('run a job too long for the shared list on the caller, in order', async () => {
    const k = await kernelsOn(2);
    try {
      const x = k.alloc(4);
      k.f32.fill(0, x, x + 4);
      const one = k.alloc(4);
      k.f32.fill(1, one, one + 4);
      // 100,000 additions: more commands than the list holds, so the caller runs them itself.
      k.split(
        [
          [0, 1],
          [1, 2],
        ],
        (fn, start) => {
          if (start === 1) for (let i = 0; i < 100_000; i++) fn.add3(4 * x, 4 * x, 4 * one, 0, 4);
        },
      );
      expect(Array.from(k.f32.subarray(x, x + 4))).toEqual([100_000, 100_000, 100_000, 100_000]);
      // 40 chunks of 1,000 additions into their own buffers, shared out between the threads: each runs once.
      const sums = k.alloc(40 * 4);
      k.f32.fill(0, sums, sums + 160);
      k.split(
        Array.from({ length: 40 }, (_, i) => [i, i + 1] as [number, number]),
        (fn, i) => {
          for (let n = 0; n < 1000; n++) fn.add3(4 * (sums + 4 * i), 4 * (sums + 4 * i), 4 * one, 0, 4);
        },
      );
      expect(Array.from(k.f32.subarray(sums, sums + 160))).toEqual(new Array(160).fill(1000));
    } finally {
      k.close();
    }
  });

  it('run posted chunks in the background, each once, alongside jobs, and join waits for the rest', async () => {
    for (const threads of [1, 2, 3]) {
      const k = threads === 1 ? Kernels.create(1) : await kernelsOn(threads);
      try {
        const one = k.alloc(4);
        k.f32.fill(1, one, one + 4);
        // 300 chunks in three posts (more than the lane holds at once: the rest run on the caller),
        // each adding 1 to its own counter 2,000 times, while jobs run on the same threads.
        const counts = k.alloc(300 * 4);
        const job = k.alloc(4);
        k.f32.fill(0, counts, counts + 1200);
        k.f32.fill(0, job, job + 4);
        const chunks = (from: number) => Array.from({ length: 100 }, (_, i) => [from + i, from + i + 1] as [number, number]);
        for (const from of [0, 100, 200]) {
          k.post(chunks(from), (fn, i) => {
            for (let n = 0; n < 2000; n++) fn.add3(4 * (counts + 4 * i), 4 * (counts + 4 * i), 4 * one, 0, 4);
          });
          k.split(
            [
              [0, 1],
              [1, 2],
            ],
            (fn, i) => {
              if (i === 0) fn.add3(4 * job, 4 * job, 4 * one, 0, 4);
            },
          );
        }
        k.join();
        expect(k.pool?.busy ?? false).toBe(false);
        expect(Array.from(k.f32.subarray(counts, counts + 1200))).toEqual(new Array(1200).fill(2000));
        expect(Array.from(k.f32.subarray(job, job + 4))).toEqual([3, 3, 3, 3]);
      } finally {
        k.close();
      }
    }
  });

  it('report a background chunk that fails when the lane is joined, and keep working', async () => {
    const k = await kernelsOn(2);
    try {
      const outside = 2 ** 28;
      k.post(
        [
          [0, 1],
          [1, 2],
        ],
        (fn, start) => fn.add3(4 * (start === 1 ? outside : 16), 64, 64, 0, 4),
      );
      expect(() => k.join()).toThrow(/a kernel call failed on one of the kernels' threads/);
      const { L, same } = product(k, 8, 8, 8);
      k.post(splitRows(8, 2), (fn, a, b) => fn.gemm(4 * (L.C2 + a * 8), 4 * (L.A + a * 8), 4 * L.P, b - a, 8, 8));
      k.join();
      expect(same()).toBe(true);
    } finally {
      k.close();
    }
  });

  it('finish the background chunks its workers took, and leave the rest to join, when the pool closes', async () => {
    const k = await kernelsOn(2);
    const one = k.alloc(4);
    k.f32.fill(1, one, one + 4);
    const counts = k.alloc(40 * 4);
    k.f32.fill(0, counts, counts + 160);
    k.post(
      Array.from({ length: 40 }, (_, i) => [i, i + 1] as [number, number]),
      (fn, i) => {
        for (let n = 0; n < 4000; n++) fn.add3(4 * (counts + 4 * i), 4 * (counts + 4 * i), 4 * one, 0, 4);
      },
    );
    // Closed while the worker is inside a chunk (a few milliseconds into the lane).
    const t0 = performance.now();
    while (performance.now() - t0 < 3);
    k.close();
    k.join();
    expect(Array.from(k.f32.subarray(counts, counts + 160))).toEqual(new Array(160).fill(4000));
  });

  it("sum a weight-gradient stream's blocks to the one-thread bits whether the workers start before it, during it or never", async () => {
    const [Kx, Kh, N, M] = [256, 256, 256, 128];
    const use = (b: number) =>
      [Kx, Kh, N].map((width, part) => Float32Array.from({ length: M * width }, (_, i) => Math.sin(b + part + i * (0.37 + 0.1 * part)))) as [
        Float32Array,
        Float32Array,
        Float32Array,
      ];
    const uses = [0, 1, 2, 3].map(use);
    const sums = (k: Kernels, ready?: () => Promise<unknown>) => {
      const stream = new WeightGradStream(k, Kx, Kh, N);
      const outs = [new Float32Array(Kx * N), new Float32Array(Kh * N), new Float32Array(N)] as const;
      const run = async () => {
        await ready?.();
        for (const u of uses) stream.add(...u);
        stream.finish(outs);
        stream.dispose();
        return outs.flatMap((o) => Array.from(o));
      };
      return run();
    };
    const one = Kernels.create(1);
    const want = await sums(one);
    one.close();
    // Made while its workers start, used once they have: the first block runs on them, and the
    // ones after it, planned to be added on this thread as they are made, must wait for it.
    for (let trial = 0; trial < 20; trial++) {
      const k = Kernels.create(3);
      expect(k.postsInline).toBe(true);
      const got = await sums(k, () => k.pool?.whenReady() as Promise<boolean>);
      expect(k.postsInline).toBe(false);
      expect(
        got.every((v, i) => Object.is(v, want[i])),
        `trial ${trial}`,
      ).toBe(true);
      k.close();
    }
    const k = await kernelsOn(3);
    expect((await sums(k)).every((v, i) => Object.is(v, want[i]))).toBe(true);
    k.close();
  });

  it('take no chunk of a job that is recorded but not yet published, nor of one whose number they did not see', () => {
    const { STATE, DONE, TABLE, LIST, COMMAND, SLOTS, jobWord, claimChunks, runCommands } = controlProtocol;
    const c = new Int32Array(LIST + 8 * COMMAND);
    const ran: number[] = [];
    const fns = [(x: number) => void ran.push(x)];
    // Job 1, two chunks, both claimed: its word says chunk 2 is next.
    Atomics.store(c, STATE, jobWord(1, 2, 2));
    // The caller records job 2, four chunks, chunk i calling fns[0](100 + i), and resets DONE...
    for (let i = 0; i < 4; i++) {
      c[TABLE + 2 * i] = LIST + i * COMMAND;
      c[LIST + i * COMMAND + 1] = 100 + i;
      c[TABLE + 2 * i + 1] = LIST + (i + 1) * COMMAND;
    }
    Atomics.store(c, DONE, 0);
    // ...and a worker still on job 1 claims nothing (chunk 2 exists in job 2, not in job 1's word).
    claimChunks(c, fns, 1, SLOTS, runCommands);
    expect(ran).toEqual([]);
    Atomics.store(c, STATE, jobWord(2, 4, 0));
    claimChunks(c, fns, 1, SLOTS, runCommands);
    expect(ran).toEqual([]);
    claimChunks(c, fns, 2, SLOTS, runCommands);
    expect(ran).toEqual([100, 101, 102, 103]);
    expect(Atomics.load(c, DONE)).toBe(4);
    expect(Atomics.load(c, STATE)).toBe(jobWord(2, 4, 4));
  });

  it('run each chunk of a job exactly once when jobs of different sizes follow one another', async () => {
    // Jobs of 2, 3, 4, 5 chunks in turn, each chunk adding 1 to its own counter: a worker late
    // from one job must not claim a chunk of the next (it once could, where the next job had more
    // chunks: that chunk then ran twice, or the caller waited for ever).
    const k = await kernelsOn(2);
    try {
      const one = k.alloc(4);
      k.f32.fill(1, one, one + 4);
      const counts = k.alloc(5 * 4);
      k.f32.fill(0, counts, counts + 20);
      const expected = new Array(5).fill(0);
      for (let job = 0; job < 4000; job++) {
        const chunks = 2 + (job % 4);
        for (let i = 0; i < chunks; i++) expected[i]++;
        k.split(
          Array.from({ length: chunks }, (_, i) => [i, i + 1] as [number, number]),
          (fn, i) => fn.add3(4 * (counts + 4 * i), 4 * (counts + 4 * i), 4 * one, 0, 4),
        );
      }
      expect(Array.from(k.f32.subarray(counts, counts + 20))).toEqual(expected.flatMap((n) => [n, n, n, n]));
    } finally {
      k.close();
    }
  });

  it('report a kernel that fails on a thread, and keep working', async () => {
    const k = await kernelsOn(2);
    try {
      const outside = 2 ** 28; // floats: 1 GiB, past the memory's end, so the call traps in the worker
      expect(() =>
        k.split(
          [
            [0, 1],
            [1, 2],
          ],
          (fn, start) => fn.add3(4 * (start === 1 ? outside : 16), 64, 64, 0, 4),
        ),
      ).toThrow(/a kernel call failed on one of the kernels' threads/);
      const { L, same } = product(k, 8, 8, 8);
      k.split(splitRows(8, 2), (fn, a, b) => fn.gemm(4 * (L.C2 + a * 8), 4 * (L.A + a * 8), 4 * L.P, b - a, 8, 8));
      expect(same()).toBe(true);
    } finally {
      k.close();
    }
  });

  it("with 'auto' threads keep a small job on this thread, wake sleeping workers only for a large one, and split everything when the count is set", async () => {
    const k = await kernelsOn(2);
    const pool = k.pool as NonNullable<Kernels['pool']>;
    const run = vi.spyOn(pool, 'run');
    try {
      const { L, same } = product(k, 8, 8, 8);
      const job = (work: number) => k.split(splitRows(8, 2), (fn, a, b) => fn.gemm(4 * (L.C2 + a * 8), 4 * (L.A + a * 8), 4 * L.P, b - a, 8, 8), work);
      job(SPLIT_MIN_WORK - 1);
      expect(run).not.toHaveBeenCalled();
      expect(same()).toBe(true); // the same chunks, run here
      for (let i = 0; i < 5000 && pool.asleep < pool.size; i++) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(pool.asleep).toBe(pool.size);
      job(WAKE_MIN_WORK - 1);
      expect(run).not.toHaveBeenCalled(); // worth a split, not a wake-up
      job(WAKE_MIN_WORK);
      expect(run).toHaveBeenCalledTimes(1);
      expect(same()).toBe(true);
      setKernelThreads(2); // set, not 'auto': every job splits
      job(1);
      expect(run).toHaveBeenCalledTimes(2);
      expect(same()).toBe(true);
    } finally {
      setKernelThreads('auto');
      k.close();
    }
  });

  it('fall back to one thread where the pool is closed or not asked for', async () => {
    const k = await kernelsOn(2);
    k.close();
    expect(k.threads).toBe(1);
    const { L, same } = product(k, 8, 8, 8);
    k.split(splitRows(8, 2), (fn, a, b) => fn.gemm(4 * (L.C2 + a * 8), 4 * (L.A + a * 8), 4 * L.P, b - a, 8, 8));
    expect(same()).toBe(true);
    const single = Kernels.create(1);
    expect(single.pool).toBeNull();
    expect(single.threads).toBe(1);
    expect(single.fn.memory.buffer).toBeInstanceOf(ArrayBuffer); // not shared: no threads asked for
  });

  it('take their count from setKernelThreads or RNNKIT_THREADS, and refuse bad values by name', () => {
    try {
      setKernelThreads(3);
      expect(kernelThreads()).toBe(3);
      expect(activeKernels()?.pool?.size).toBe(2);
      setKernelThreads(1);
      expect(kernelThreads()).toBe(1);
      expect(activeKernels()?.pool).toBeNull();
    } finally {
      setKernelThreads('auto');
    }
    expect(() => setKernelThreads(0)).toThrow(/setKernelThreads: threads must be 'auto' or a whole number from 1 to 256, got 0/);
    expect(() => setKernelThreads(1.5)).toThrow(/got 1.5/);
    setKernelThreads('auto');
    expect(kernelThreads()).toBe(Math.min(nodeThreadHost.parallelism(), MAX_AUTO_THREADS));
    expect(threadsFromEnv('4')).toBe(4);
    expect(threadsFromEnv(' auto ')).toBe('auto');
    expect(threadsFromEnv('')).toBeUndefined();
    expect(() => threadsFromEnv('two')).toThrow(/RNNKIT_THREADS must be "auto" or a whole number from 1 to 256, got "two"/);
  });
});

describe('BatchMatMul on threads', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    installWasmKernels();
  });
  afterAll(() => setKernelThreads('auto'));

  it('gives the one-thread products bit for bit (rows split, column panels split)', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[32, 512], [512, 512], false, false], // rows
      [[32, 512], [512, 512], false, true],
      [[512, 32], [32, 512], false, false],
      [[8, 256], [256, 520], false, false], // few rows: column panels, N % 8 != 0
      [[2, 12, 64], [64, 300], false, false],
    ];
    const results = async (threads: number) => {
      setKernelThreads(threads);
      const gemm = wasmMatMul();
      if (threads > 1) expect(await gemm?.k.pool?.whenReady()).toBe(true);
      expect(gemm?.k.threads).toBe(threads);
      return cases.map(([sa, sb, ta, tb], i) =>
        tf.tidy(() => {
          const a = tf.reshape(
            tf.sin(
              tf.mul(
                tf.range(
                  0,
                  sa.reduce((x, y) => x * y, 1),
                ),
                0.37 + i,
              ),
            ),
            sa,
          );
          const b = tf.reshape(
            tf.cos(
              tf.mul(
                tf.range(
                  0,
                  sb.reduce((x, y) => x * y, 1),
                ),
                0.11 + i,
              ),
            ),
            sb,
          );
          return Array.from(tf.matMul(a, b, ta, tb).dataSync());
        }),
      );
    };
    const one = await results(1);
    const two = await results(2);
    expect(two).toEqual(one);
  });
});
