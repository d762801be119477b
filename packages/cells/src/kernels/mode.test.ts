import { describe, expect, it } from 'vitest';
import { activeKernels } from './simd.js';
import { kernelThreads, MAX_AUTO_THREADS } from './threads.js';
import { hasRelaxedSimd } from '../simd-support.js';
import { availableParallelism } from 'node:os';
import '../index.node.js';

// scripts/test-modes.sh runs the parity tests again with RNNKIT_THREADS and
// RNNKIT_TEST_RELAXED_SIMD set; this checks that the kernels really run in the mode asked for, and
// without them, in the default mode (the machine's cores, the SIMD build the engine validates).
describe('the kernels in this test run', () => {
  it('use the thread count and SIMD build the environment asks for', async () => {
    const k = activeKernels();
    expect(k).not.toBeNull();
    const threads = process.env.RNNKIT_THREADS;
    const expected = threads && threads !== 'auto' ? Number(threads) : Math.min(availableParallelism(), MAX_AUTO_THREADS);
    expect(kernelThreads()).toBe(expected);
    if (expected > 1) expect(await k?.pool?.whenReady()).toBe(true);
    else expect(k?.pool).toBeNull();
    expect(k?.threads).toBe(expected);
    // The build follows the engine: relaxed exactly where it validates relaxed SIMD.
    expect(k?.relaxed).toBe(hasRelaxedSimd());
    if (process.env.RNNKIT_TEST_RELAXED_SIMD === '1') expect(k?.relaxed).toBe(true);
    else if (process.versions.node.startsWith('20.')) expect(k?.relaxed).toBe(false); // Node 20: behind a flag unless asked for
  });
});
