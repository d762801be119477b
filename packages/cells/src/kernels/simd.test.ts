import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Kernels, activeKernels } from './simd.js';
// @ts-expect-error: a plain .mjs build script without types
import { compileKernels } from '../../scripts/build-wasm.mjs';

describe('the WebAssembly SIMD kernels', () => {
  it('are the module compiled from assembly/kernels.ts', async () => {
    const committed = await readFile(new URL('./simd-module.generated.ts', import.meta.url), 'utf8');
    expect(committed).toBe(await compileKernels());
  }, 60_000);

  it('the relaxed-SIMD build (fused multiply-add) computes the same matmuls, in an engine that has it', () => {
    // Node 20 has relaxed SIMD behind a flag only: check the build in a child process that sets it.
    const script = `
      import { readFileSync } from 'node:fs';
      const text = readFileSync(${JSON.stringify(fileURLToPath(new URL('./simd-module.generated.ts', import.meta.url)))}, 'utf8');
      const [plain, relaxed] = [...text.matchAll(/'([A-Za-z0-9+/=]+)'/g)].map((m) => Buffer.from(m[1], 'base64'));
      if (!WebAssembly.validate(relaxed) || !WebAssembly.validate(plain)) throw new Error('does not validate');
      const make = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: new WebAssembly.Memory({ initial: 1 }) } }).exports;
      let worst = 0;
      for (const [M, K, N] of [[32, 256, 768], [3, 20, 12], [7, 64, 4]]) {
        const outs = [plain, relaxed].map((bytes) => {
          const k = make(bytes);
          k.memory.grow(64);
          const f = new Float32Array(k.memory.buffer);
          const [A, B, P, C] = [16, 16 + M * K, 16 + M * K + K * N, 16 + M * K + 2 * K * N];
          for (let i = 0; i < M * K; i++) f[A + i] = Math.sin(i);
          for (let i = 0; i < K * N; i++) f[B + i] = Math.cos(3 * i);
          k.packPanels(4 * P, 4 * B, K, N);
          k.gemm(4 * C, 4 * A, 4 * P, M, K, N);
          return f.slice(C, C + M * N);
        });
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
          let ref = 0;
          for (let q = 0; q < K; q++) ref += Math.sin(i * K + q) * Math.cos(3 * (q * N + j));
          for (const out of outs) worst = Math.max(worst, Math.abs(out[i * N + j] - ref) / (1 + Math.abs(ref)));
        }
      }
      console.log(JSON.stringify({ worst }));
    `;
    const out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out).worst).toBeLessThan(1e-5);
  });

  it("gemm's last 4 columns give each row the bits it gets alone (8-row tiles, then single rows)", () => {
    const k = activeKernels()!;
    const [M, K, N] = [21, 37, 12]; // 8 columns in a panel, 4 at the edge; two 8-row tiles and 5 rows
    const lay = k.allocLayout({ A: M * K, B: K * N, P: K * N, C: M * N, ROW: N });
    try {
      const f = k.f32;
      for (let i = 0; i < M * K; i++) f[lay.A + i] = Math.sin(1 + i) * 3;
      for (let i = 0; i < K * N; i++) f[lay.B + i] = Math.cos(2 * i);
      k.fn.packPanels(4 * lay.P, 4 * lay.B, K, N);
      k.fn.gemm(4 * lay.C, 4 * lay.A, 4 * lay.P, M, K, N);
      const all = k.f32.slice(lay.C, lay.C + M * N);
      for (let i = 0; i < M; i++) {
        k.fn.gemm(4 * lay.ROW, 4 * (lay.A + i * K), 4 * lay.P, 1, K, N);
        expect(Array.from(all.subarray(i * N, (i + 1) * N)), `row ${i}`).toEqual(Array.from(k.f32.subarray(lay.ROW, lay.ROW + N)));
      }
    } finally {
      k.release(lay.region);
    }
  });

  it("gemmPacked on packRows or packColumns gives gemmStrided's bits, edges and row chunks included, and adds them to C's values where asked", () => {
    const k = activeKernels()!;
    for (const [M, K, N, ldc] of [
      [1, 5, 4, 4],
      [3, 7, 12, 12],
      [4, 1, 8, 12],
      [9, 33, 20, 28],
      [13, 16, 28, 28],
      [21, 37, 12, 16],
    ] as const) {
      const lda = K + 3; // rows of A inside a wider buffer
      const lay = k.allocLayout({
        A: M * lda,
        AR: M * K,
        X: K * (M + 2),
        B: K * N,
        P: K * N,
        AP: M * K,
        XP: M * K,
        C1: M * ldc,
        C2: M * ldc,
        C3: M * ldc,
        C4: M * ldc,
      });
      try {
        const f = k.f32;
        for (let i = 0; i < M * lda; i++) f[lay.A + i] = Math.sin(1 + i) * 3;
        for (let i = 0; i < K * N; i++) f[lay.B + i] = Math.cos(2 * i);
        for (let i = 0; i < M; i++)
          for (let q = 0; q < K; q++) {
            f[lay.AR + i * K + q] = f[lay.A + i * lda + q]!;
            f[lay.X + q * (M + 2) + i] = f[lay.A + i * lda + q]!; // X = A^T, rows of M + 2
          }
        for (const C of [lay.C1, lay.C2, lay.C3]) f.fill(-7, C, C + M * ldc);
        k.fn.packPanels(4 * lay.P, 4 * lay.B, K, N);
        k.fn.gemmStrided(4 * lay.C1, 4 * lay.AR, 4 * lay.P, M, K, N, ldc);
        k.fn.packRows(4 * lay.AP, 4 * lay.A, M, K, lda);
        k.fn.gemmPacked(4 * lay.C2, 4 * lay.AP, 4 * lay.P, M, K, N, ldc, 0);
        // X^T packed without a transpose is the same layout; and a chunk of rows from a multiple of 4 is one.
        k.fn.packColumns(4 * lay.XP, 4 * lay.X, K, M, M + 2);
        expect(Array.from(f.subarray(lay.XP, lay.XP + M * K)), `packColumns ${M}x${K}`).toEqual(Array.from(f.subarray(lay.AP, lay.AP + M * K)));
        for (let r0 = 0; r0 < M; r0 += 4) k.fn.gemmPacked(4 * (lay.C3 + r0 * ldc), 4 * (lay.XP + r0 * K), 4 * lay.P, Math.min(4, M - r0), K, N, ldc, 0);
        const want = Array.from(f.subarray(lay.C1, lay.C1 + M * ldc));
        // Added to C's values: each sum plus the value, rounded to float32; the columns past N kept.
        for (let i = 0; i < M * ldc; i++) f[lay.C4 + i] = Math.cos(3 * i);
        const added = Array.from(f.subarray(lay.C4, lay.C4 + M * ldc)).map((v, i) => (i % ldc < N ? Math.fround(v + (want[i] as number)) : v));
        k.fn.gemmPacked(4 * lay.C4, 4 * lay.AP, 4 * lay.P, M, K, N, ldc, 1);
        expect(Array.from(f.subarray(lay.C4, lay.C4 + M * ldc)), `${M}x${K}x${N} added`).toEqual(added);
        expect(Array.from(f.subarray(lay.C2, lay.C2 + M * ldc)), `${M}x${K}x${N}`).toEqual(want);
        expect(Array.from(f.subarray(lay.C3, lay.C3 + M * ldc)), `${M}x${K}x${N} by chunks`).toEqual(want);
        expect(want.slice(0, N).every((v) => v !== -7)).toBe(true);
      } finally {
        k.release(lay.region);
      }
    }
  });

  it("packPanelsTransposed gives transposeStrided then packPanelsWide's panels, whole or split by panels", () => {
    const k = activeKernels()!;
    // W (N, K) inside rows of ldw floats; W^T's panels: 8-column panels, a 4-column edge, K not a multiple of 8.
    for (const [N, K, ldw] of [
      [4, 4, 4],
      [8, 12, 12],
      [12, 20, 24],
      [28, 36, 40],
    ] as const) {
      const lay = k.allocLayout({ W: N * ldw, WT: K * N, P1: K * N, P2: K * N, P3: K * N });
      try {
        const f = k.f32;
        for (let i = 0; i < N * ldw; i++) f[lay.W + i] = Math.sin(3 + 5 * i) * 2;
        for (const P of [lay.P1, lay.P2, lay.P3]) f.fill(-7, P, P + K * N);
        // Reference: W's first K columns transposed (rows of N floats), then W^T (K, N) into panels.
        for (let j = 0; j < N; j++) for (let q = 0; q < K; q++) f[lay.WT + q * N + j] = f[lay.W + j * ldw + q]!;
        k.fn.packPanelsWide(4 * lay.P1, 4 * lay.WT, K, N, N);
        k.fn.packPanelsTransposed(4 * lay.P2, 4 * lay.W, K, N, ldw);
        // By panels, as threads split it: W's rows j0.. to the panels from out + 4 K j0.
        for (let j0 = 0; j0 < N; j0 += 8) k.fn.packPanelsTransposed(4 * (lay.P3 + K * j0), 4 * (lay.W + j0 * ldw), K, Math.min(8, N - j0), ldw);
        const want = Array.from(f.subarray(lay.P1, lay.P1 + K * N));
        expect(want.includes(-7)).toBe(false);
        expect(Array.from(f.subarray(lay.P2, lay.P2 + K * N)), `${N}x${K}`).toEqual(want);
        expect(Array.from(f.subarray(lay.P3, lay.P3 + K * N)), `${N}x${K} by panels`).toEqual(want);
      } finally {
        k.release(lay.region);
      }
    }
  });

  it("packRowsInto assembles [X H 1]'s packed rows from its parts: packRows' layout of the whole, row chunks and tail rows included", () => {
    const k = activeKernels()!;
    for (const [M, Kx, Kh] of [
      [4, 4, 8],
      [7, 5, 6],
      [12, 28, 16],
      [3, 2, 9],
    ] as const) {
      const K = Kx + Kh + 1;
      const lay = k.allocLayout({ X: M * Kx, H: M * Kh, ONE: 1, A: M * K, P1: M * K, P2: M * K });
      try {
        const f = k.f32;
        for (let i = 0; i < M * Kx; i++) f[lay.X + i] = Math.sin(1 + 3 * i);
        for (let i = 0; i < M * Kh; i++) f[lay.H + i] = Math.cos(2 + 5 * i);
        f[lay.ONE] = 1;
        // Reference: [X H 1] row-major, then packRows.
        for (let r = 0; r < M; r++) {
          f.copyWithin(lay.A + r * K, lay.X + r * Kx, lay.X + (r + 1) * Kx);
          f.copyWithin(lay.A + r * K + Kx, lay.H + r * Kh, lay.H + (r + 1) * Kh);
          f[lay.A + r * K + Kx + Kh] = 1;
        }
        f.fill(-7, lay.P1, lay.P1 + 2 * M * K);
        k.fn.packRows(4 * lay.P1, 4 * lay.A, M, K, K);
        // In row chunks from multiples of 4, as a split product packs them.
        for (let r0 = 0; r0 < M; r0 += 4) {
          const rows = Math.min(4, M - r0);
          const at = 4 * (lay.P2 + r0 * K);
          k.fn.packRowsInto(at, 4 * (lay.X + r0 * Kx), rows, Kx, Kx, K, 0);
          k.fn.packRowsInto(at, 4 * (lay.H + r0 * Kh), rows, Kh, Kh, K, Kx);
          k.fn.packRowsInto(at, 4 * lay.ONE, rows, 1, 0, K, Kx + Kh);
        }
        const want = Array.from(f.subarray(lay.P1, lay.P1 + M * K));
        expect(want.includes(-7)).toBe(false);
        expect(Array.from(f.subarray(lay.P2, lay.P2 + M * K)), `${M} x (${Kx} + ${Kh} + 1)`).toEqual(want);
      } finally {
        k.release(lay.region);
      }
    }
  });

  it("addRowsStrided by column chunks gives addRows' bits (a token's rows added in order)", () => {
    const k = activeKernels()!;
    const [n, N, V] = [23, 20, 5];
    const lay = k.allocLayout({ SRC: n * N, IDS: n, OUT1: V * N, OUT2: V * N });
    try {
      const f = k.f32;
      for (let i = 0; i < n * N; i++) f[lay.SRC + i] = Math.cos(1 + 7 * i) * 1e3 ** Math.sin(i); // magnitudes that round differently by order
      const ids = new Int32Array(f.buffer, 4 * lay.IDS, n);
      for (let i = 0; i < n; i++) ids[i] = (i * 3) % V;
      f.fill(0.5, lay.OUT1, lay.OUT1 + V * N);
      f.fill(0.5, lay.OUT2, lay.OUT2 + V * N);
      k.fn.addRows(4 * lay.OUT1, 4 * lay.SRC, 4 * lay.IDS, n, N);
      for (const [c0, c1] of [
        [12, 20],
        [0, 4],
        [4, 12],
      ] as const)
        k.fn.addRowsStrided(4 * (lay.OUT2 + c0), 4 * (lay.SRC + c0), 4 * lay.IDS, n, c1 - c0, N);
      const want = Array.from(f.subarray(lay.OUT1, lay.OUT1 + V * N));
      let expected = 0.5;
      for (let i = 0; i < n; i++) if (ids[i] === 1) expected = Math.fround(expected + f[lay.SRC + i * N + 3]!);
      expect(want[N + 3]).toBe(expected);
      expect(Array.from(f.subarray(lay.OUT2, lay.OUT2 + V * N))).toEqual(want);
    } finally {
      k.release(lay.region);
    }
  });

  it('columnSums adds each column down the rows in order, for every width, and writes nothing past its output', () => {
    const k = activeKernels()!;
    const rows = 9;
    for (let cols = 1; cols <= 37; cols++) {
      const lay = k.allocLayout({ X: rows * cols, OUT: cols + 4 });
      try {
        const f = k.f32;
        for (let i = 0; i < rows * cols; i++) f[lay.X + i] = Math.cos(1 + 7 * i) * 1e3 ** Math.sin(i);
        f.fill(-7, lay.OUT, lay.OUT + cols + 4);
        k.fn.columnSums(4 * lay.OUT, 4 * lay.X, rows, cols);
        const want = Array.from({ length: cols }, (_, j) => {
          let s = 0;
          for (let i = 0; i < rows; i++) s = Math.fround(s + f[lay.X + i * cols + j]!);
          return s;
        });
        expect(Array.from(f.subarray(lay.OUT, lay.OUT + cols)), `${cols} columns`).toEqual(want);
        expect(Array.from(f.subarray(lay.OUT + cols, lay.OUT + cols + 4)), `past ${cols} columns`).toEqual([-7, -7, -7, -7]);
      } finally {
        k.release(lay.region);
      }
    }
  });

  it('the gate kernels give lanes done two groups at a time the bits of lanes done one group at a time', () => {
    // GRU and LSTM, H = 12: lanes 0-3 and 4-7 run as a pair of groups, lanes 8-11 as a pair with
    // themselves. With lanes 8-11's inputs equal to one group's of the first pair, their outputs must
    // be equal too. (The RNN pairs across rows: its own test follows.)
    const k = activeKernels()!;
    const H = 12;
    const B = 2;
    for (const [gates, lane] of [3, 4].flatMap((g) => [0, 4].map((l) => [g, l] as const))) {
      const same = (buf: number, width: number, label: string) => {
        for (let b = 0; b < B; b++)
          for (let g = 0; g < width / H; g++) {
            const at = buf + b * width + g * H;
            expect(Array.from(k.f32.subarray(at + 8, at + 12)), `${label} row ${b} block ${g} lanes ${lane}..`).toEqual(
              Array.from(k.f32.subarray(at + lane, at + lane + 4)),
            );
          }
      };
      const GH = gates * H;
      const lay = k.allocLayout({ X: B * GH, G: B * GH, BX: GH, BH: GH, HP: B * H, CP: B * H, HN: B * H, CN: B * H, ACTS: B * GH, SAVED: B * H });
      try {
        const f = k.f32;
        const fill = (buf: number, width: number, rows: number, seed: number) => {
          for (let r = 0; r < rows; r++) for (let q = 0; q < width; q++) f[buf + r * width + q] = Math.sin(13 * seed + 7 * r + q) * 4;
        };
        fill(lay.X, GH, B, 1);
        fill(lay.G, GH, B, 2);
        fill(lay.BX, GH, 1, 3);
        fill(lay.BH, GH, 1, 4);
        fill(lay.HP, H, B, 5);
        fill(lay.CP, H, B, 6);
        // Within each block of H, lanes 8-11 copy one group of the pair.
        for (const [buf, width, rows] of [
          [lay.X, GH, B],
          [lay.G, GH, B],
          [lay.BX, GH, 1],
          [lay.BH, GH, 1],
          [lay.HP, H, B],
          [lay.CP, H, B],
        ] as const)
          for (let r = 0; r < rows; r++)
            for (let g = 0; g < width / H; g++) f.copyWithin(buf + r * width + g * H + 8, buf + r * width + g * H + lane, buf + r * width + g * H + lane + 4);
        if (gates === 3) {
          k.fn.gruForward(4 * lay.X, 4 * lay.G, 4 * lay.BX, 4 * lay.BH, 4 * lay.HP, 4 * lay.HN, 4 * lay.ACTS, 4 * lay.SAVED, B, H);
          same(lay.HN, H, 'gru h');
          same(lay.ACTS, GH, 'gru gates');
          same(lay.SAVED, H, 'gru saved');
        } else {
          k.fn.lstmForward(4 * lay.X, 4 * lay.G, 4 * lay.BX, 4 * lay.BH, 4 * lay.CP, 4 * lay.CN, 4 * lay.HN, 4 * lay.ACTS, 4 * lay.SAVED, B, H);
          same(lay.HN, H, 'lstm h');
          same(lay.CN, H, 'lstm c');
          same(lay.ACTS, GH, 'lstm gates');
          same(lay.SAVED, H, 'lstm saved');
        }
        expect(Array.from(f.subarray(lay.HN, lay.HN + 4)).some((v) => v !== 0)).toBe(true);
      } finally {
        k.release(lay.region);
      }
    }
  });

  it("rnnForward's paired groups give the bits of one group at a time", () => {
    // H = 16 runs every row as pairs of groups; each group of 4 lanes alone (H = 4, one row) runs as
    // a pair with itself, with its own slices of x, gh and the biases.
    const k = activeKernels()!;
    const [B, H] = [3, 16];
    const lay = k.allocLayout({ X: B * H, G: B * H, BX: H, BH: H, HN: B * H, ONE: B * H });
    try {
      const f = k.f32;
      for (const [buf, n, seed] of [
        [lay.X, B * H, 1],
        [lay.G, B * H, 2],
        [lay.BX, H, 3],
        [lay.BH, H, 4],
      ] as const)
        for (let i = 0; i < n; i++) f[buf + i] = Math.sin(13 * seed + i) * 0.5;
      k.fn.rnnForward(4 * lay.X, 4 * lay.G, 4 * lay.BX, 4 * lay.BH, 4 * lay.HN, B, H);
      for (let b = 0; b < B; b++)
        for (let j = 0; j < H; j += 4) {
          const at = b * H + j;
          k.fn.rnnForward(4 * (lay.X + at), 4 * (lay.G + at), 4 * (lay.BX + j), 4 * (lay.BH + j), 4 * (lay.ONE + at), 1, 4);
        }
      expect(Array.from(f.subarray(lay.HN, lay.HN + B * H))).toEqual(Array.from(f.subarray(lay.ONE, lay.ONE + B * H)));
      expect(new Set(Array.from(f.subarray(lay.HN, lay.HN + B * H))).size).toBeGreaterThan(B * H - 2);
    } finally {
      k.release(lay.region);
    }
  });

  it('load here (Node 20 has WebAssembly SIMD)', () => {
    expect(activeKernels()).not.toBeNull();
  });

  it('hand out 16-byte aligned regions, reuse freed ones and merge neighbours', () => {
    const k = Kernels.create();
    const a = k.alloc(10);
    const b = k.alloc(100_000); // grows the memory past its first page
    const c = k.alloc(7);
    expect([a % 4, b % 4, c % 4]).toEqual([0, 0, 0]);
    expect(b).toBeGreaterThanOrEqual(a + 10);
    expect(c).toBeGreaterThanOrEqual(b + 100_000);
    k.f32.fill(1, b, b + 100_000);
    k.release(b);
    expect(k.alloc(50_000)).toBe(b); // first fit, in the freed region
    k.release(b);
    k.release(a);
    expect(k.alloc(100_008)).toBe(a); // a and b merged
    expect(() => k.release(b)).toThrow(/no region/);
    k.release(a);
    k.release(c);
    expect(k.inUse).toBe(0);
    expect(k.alloc(4)).toBe(a); // everything returned to the top
  });

  it('lay named buffers out in one region, in order and in whole lanes', () => {
    const k = Kernels.create();
    const l = k.allocLayout({ A: 5, B: 0, C: 8 });
    expect([l.A, l.B, l.C]).toEqual([l.region, l.region + 8, l.region + 8]);
    expect(k.inUse).toBe(16);
    k.release(l.region);
    expect(k.inUse).toBe(0);
  });
});
