import '@rnnkit/cells/relaxed-simd';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels, setKernelThreads } from '@rnnkit/cells';
setKernelThreads(Number(process.argv[2]));
await tf.setBackend('wasm'); installWasmKernels();
await new Promise((r) => setTimeout(r, 300));
for (const [M, K, N, tA, tB] of [[32, 512, 28, false, false], [32, 512, 32, false, false], [512, 32, 28, true, false], [1120, 256, 28, false, false], [256, 1120, 28, true, false]]) {
  const a = tA ? tf.randomNormal([K, M]) : tf.randomNormal([M, K]); const b = tB ? tf.randomNormal([N, K]) : tf.randomNormal([K, N]);
  const times = [];
  for (let r = 0; r < 9; r++) { const t0 = performance.now(); for (let i = 0; i < 200; i++) tf.matMul(a, b, tA, tB).dispose(); times.push((performance.now() - t0) / 200); }
  times.sort((x, y) => x - y); console.log('threads', process.argv[2], `${M}x${K}x${N} tA=${tA}`.padEnd(22), (times[4] * 1000).toFixed(1), 'us');
}
process.exit(0);
