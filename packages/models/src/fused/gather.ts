import * as tf from '@tensorflow/tfjs-core';
import { activeKernels, kernelsUnavailableReason, readInto, recordOpPath, tensorOfView } from '@rnnkit/cells';

/** Throws where an id is not a row of a (V, ...) table. */
export function checkIds(ids: Int32Array, V: number): void {
  for (const id of ids) {
    if (!(id >= 0 && id < V)) throw new RangeError(`Token id ${id} is outside the vocabulary of ${V}.`);
  }
}

/** Rows `ids` of a row-major (V, N) table, written one after another into dst from offset. */
function gatherRowsInto(dst: Float32Array, offset: number, table: Float32Array, ids: Int32Array, N: number): void {
  ids.forEach((id, i) => {
    dst.set(table.subarray(id * N, (id + 1) * N), offset + i * N);
  });
}

/** The gradient of a row gather: row i of dy added into row ids[i] of a (V, N) zero table. */
export function addRowsByIds(dy: Float32Array, ids: Int32Array, V: number): tf.Tensor2D {
  const N = dy.length / ids.length;
  const dW = new Float32Array(V * N);
  ids.forEach((id, i) => {
    const src = i * N;
    const dst = id * N;
    for (let j = 0; j < N; j++) dW[dst + j] = dW[dst + j]! + dy[src + j]!;
  });
  return tf.tensor2d(dW, [V, N]);
}

/** Every step's input projection as one array: xProj's values, or the rows of W_ih for `ids`. */
export function stepInputs(xp: tf.Tensor, ids: Int32Array | null): Float32Array {
  const values = xp.dataSync() as Float32Array;
  if (!ids) return values;
  const N = xp.shape[1]!;
  const out = new Float32Array(ids.length * N);
  gatherRowsInto(out, 0, values, ids, N);
  return out;
}

/**
 * Rows `ids` of `W` (V, N): the product of one-hot inputs and W without the one-hot matmul, and
 * without tf.gather, whose gradient the wasm backend cannot compute (no `UnsortedSegmentSum`).
 * The backward pass adds each output row's gradient into its token's row of dW. Both run on
 * rnnkit's kernels where N is a multiple of 4 (an embedding's rows), else in plain JS; the sums
 * are in the ids' order either way. Ids are plain integers (inputs, not something to differentiate).
 */
export function gatherRows(ids: Int32Array, W: tf.Tensor2D): tf.Tensor2D {
  const [V, N] = W.shape;
  checkIds(ids, V);
  const n = ids.length;
  const run = tf.customGrad(((w: tf.Tensor) => {
    const k = N % 4 === 0 && n > 0 ? activeKernels() : null;
    recordOpPath('gatherRows', k !== null, k ? undefined : N % 4 !== 0 ? `row width ${N} is not a multiple of 4` : (kernelsUnavailableReason() ?? undefined));
    if (!k) {
      const out = new Float32Array(n * N);
      gatherRowsInto(out, 0, w.dataSync() as Float32Array, ids, N);
      const gradFunc = (dy: tf.Tensor): tf.Tensor => addRowsByIds(dy.dataSync() as Float32Array, ids, V);
      return { value: tf.tensor2d(out, [n, N]), gradFunc };
    }
    const l = k.allocLayout({ TABLE: V * N, IDS: n, OUT: n * N });
    let value: tf.Tensor2D;
    try {
      readInto(w, k.f32, l.TABLE);
      new Int32Array(k.f32.buffer, 4 * l.IDS, n).set(ids);
      k.fn.gatherRows(4 * l.OUT, 4 * l.TABLE, 4 * l.IDS, n, N);
      value = tensorOfView<tf.Rank.R2>(k.f32.subarray(l.OUT, l.OUT + n * N), [n, N]);
    } finally {
      k.release(l.region);
    }
    const gradFunc = (dy: tf.Tensor): tf.Tensor => {
      const g = k.allocLayout({ DW: V * N, DY: n * N, IDS: n });
      try {
        const f32 = k.f32;
        f32.fill(0, g.DW, g.DW + V * N);
        readInto(dy, f32, g.DY);
        new Int32Array(f32.buffer, 4 * g.IDS, n).set(ids);
        k.fn.addRows(4 * g.DW, 4 * g.DY, 4 * g.IDS, n, N);
        return tensorOfView<tf.Rank.R2>(k.f32.subarray(g.DW, g.DW + V * N), [V, N]);
      } finally {
        k.release(g.region);
      }
    };
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return run(W) as tf.Tensor2D;
}
