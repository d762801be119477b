import { describe, expect, it } from 'vitest';
import { simdKernels } from './simd.js';
import { kernelThreads } from './threads.js';
import '../index.node.js';

// scripts/test-modes.sh runs the parity tests again with RNNKIT_THREADS and
// RNNKIT_TEST_RELAXED_SIMD set; this checks that the kernels really run in the mode asked for.
describe('the kernels in this test run', () => {
  it('use the thread count and SIMD build the environment asks for', async () => {
    const k = simdKernels();
    expect(k).not.toBeNull();
    const threads = process.env.RNNKIT_THREADS;
    if (threads && threads !== 'auto') expect(kernelThreads()).toBe(Number(threads));
    if (kernelThreads() > 1) {
      expect(await k?.pool?.whenReady()).toBe(true);
      expect(k?.threads).toBe(kernelThreads());
    }
    if (process.env.RNNKIT_TEST_RELAXED_SIMD === '1') expect(k?.relaxed).toBe(true);
    else if (process.versions.node.startsWith('20.')) expect(k?.relaxed).toBe(false); // Node 20: behind a flag
  });
});
