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
