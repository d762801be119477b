import * as tf from '@tensorflow/tfjs-core';
import { activeKernels, kernelsUnavailableReason, recordOpPath } from '@rnnkit/cells';
import { checkIds } from './gather.js';
import { jsRecurrence } from './js-loops.js';
import { cellKindsInWords, isCellKind, type CellKind } from '../cell-kinds.js';
import { RECURRENCES, recurrenceOf } from './kinds.js';
import type { Pass, PassResult } from './pass.js';
import { kernelRecurrence } from './kernel-recurrence.js';

export interface RecurrenceOptions {
  /** The cell kind (`RNNModelOptions.cell`). */
  cell: CellKind;
  /** GRU only: true applies the reset gate after the recurrent matmul (PyTorch `nn.GRU`), false before it (d2l). */
  resetAfter?: boolean;
  /**
   * The input projection's bias b_ih (G*H), when `xProj` leaves it out: added inside, and its
   * gradient summed with the gate work instead of by a separate broadcast Add and Sum.
   */
  inputBias?: tf.Tensor1D;
  /**
   * Token ids of one-hot inputs, time-major (T*B). `xProj` is then W_ih itself (V, G*H) and each
   * step's input projection is a row of it: the one-hot product without its matmul or a gather
   * tensor. W_ih's gradient is the input gradients added into the rows of their tokens.
   */
  inputIds?: Int32Array;
  /**
   * Dense inputs (T*B, I), time-major rows (a lower layer's outputs, embeddings). `xProj` is then
   * W_ih itself (I, G*H): the projection x W_ih and its two gradients run inside the op, on the
   * kernels' gemm. That is what runs where the kernels do not (or I or T*B is not a multiple of
   * 4): `tf.matMul(x, W_ih)` reshaped to (T, B, G*H), outside the op. On wasm with rnnkit's
   * BatchMatMul (`installWasmKernels`) the two give the same bits; with another matmul (cpu,
   * stock wasm) they differ by float32 rounding.
   */
  inputRows?: tf.Tensor2D;
}

/** What `fusedRecurrence` returns: every step's hidden state and the final state (a type, so `tf.dispose` takes it). */
export type RecurrenceResult = {
  /** h_1..h_T (T, B, H). */
  outputs: tf.Tensor3D;
  /** [h_T], or [h_T, c_T] for the LSTM; each (B, H). */
  state: tf.Tensor2D[];
};

/**
 * One layer, one direction of a recurrent network over a whole sequence, with hand-written
 * backpropagation through time (`tf.customGrad`).
 *
 * `xProj` (T, B, G*H) holds the input projections of all steps (x W_ih, one matmul for the
 * sequence; b_ih too unless passed as `inputBias`), or is W_ih itself with `inputIds`; `state` is
 * [h0] or, for the LSTM, [h0, c0] (each (B, H)); `Whh` (H, G*H) and `bhh` (G*H) are the recurrent
 * weights. The element-wise gate work runs in the WebAssembly SIMD kernels of `@rnnkit/cells`
 * where the cell kind's record has them (see `RECURRENCES`, `useKernels`) or in plain loops over
 * typed arrays; the backward pass forms dW_hh for all steps as one large matmul.
 */
export function fusedRecurrence(
  xProj: tf.Tensor3D | tf.Tensor2D,
  state: tf.Tensor2D[],
  Whh: tf.Tensor2D,
  bhh: tf.Tensor1D,
  options: RecurrenceOptions,
): RecurrenceResult {
  const { cell } = options;
  if (!isCellKind(cell)) throw new Error(`fusedRecurrence: unknown cell "${String(cell)}": use ${cellKindsInWords()}.`);
  const spec = RECURRENCES[recurrenceOf(cell, options.resetAfter ?? true)];
  const ids = options.inputIds ?? null;
  const h0 = state[0];
  if (!h0 || state.length !== spec.states) {
    throw new Error(`fusedRecurrence: the ${cell} needs a state of ${spec.states === 2 ? '[h0, c0]' : '[h0]'}, got ${state.length} tensors.`);
  }
  const [B, H] = h0.shape;
  const G = spec.gates;
  const GH = xProj.shape[xProj.rank - 1]!;
  if (GH !== G * H) throw new Error(`fusedRecurrence: xProj has ${GH} features, expected ${G} x ${H} for ${cell}.`);
  const bih = options.inputBias ?? null;
  if (bih && bih.size !== GH) throw new Error(`fusedRecurrence: inputBias has ${bih.size} entries, expected ${GH}.`);
  // The kernels cover the kinds whose record has them, for hidden sizes in whole SIMD lanes.
  const kernels = spec.kernels && H % 4 === 0 ? activeKernels() : null;
  let xin = options.inputRows ?? null;
  let projection: tf.Tensor = xProj;
  // The projection made here where the op cannot take the dense inputs itself (disposed after the op).
  let projected: tf.Tensor3D | null = null;
  if (xin) {
    if (ids) throw new Error('fusedRecurrence: give inputIds or inputRows, not both.');
    if (xProj.rank !== 2 || xin.rank !== 2 || xin.shape[1] !== xProj.shape[0] || xin.shape[0] % B !== 0) {
      throw new Error(
        `fusedRecurrence: with inputRows (T*B, I), xProj is W_ih (I, ${G} x H); got inputRows [${xin.shape.join(', ')}] and xProj [${xProj.shape.join(', ')}] for batch ${B}.`,
      );
    }
    // The gemm's transposes take whole 4 x 4 blocks; elsewhere the projection is a matmul outside.
    if (!kernels?.weightGradientGemm || xin.shape[0] % 4 !== 0 || xin.shape[1] % 4 !== 0) {
      const rows = xin;
      projected = tf.tidy(() => tf.reshape(tf.matMul(rows, xProj as tf.Tensor2D), [rows.shape[0] / B, B, GH]) as tf.Tensor3D);
      projection = projected;
      xin = null;
    }
  }
  if (ids) {
    if (projection.rank !== 2) throw new Error(`fusedRecurrence: with inputIds, xProj is W_ih (vocab, ${G} x H), got shape [${projection.shape.join(', ')}].`);
    if (ids.length % B !== 0) throw new Error(`fusedRecurrence: ${ids.length} input ids do not split into steps of batch ${B}.`);
    checkIds(ids, projection.shape[0]!);
  } else if (!xin && (projection.rank !== 3 || projection.shape[1] !== B)) {
    throw new Error(`fusedRecurrence: xProj must be (steps, ${B}, ${G} x H), got shape [${projection.shape.join(', ')}].`);
  }
  const T = ids ? ids.length / B : xin ? xin.shape[0] / B : projection.shape[0]!;

  // Inside the op the tape is always off; here it says whether a backward pass can follow.
  const keep = tf.engine().isTapeOn();
  const S = spec.states;
  // Inputs in a fixed order: xProj, W_hh, b_hh, the states, then b_ih and the dense inputs when given.
  const inputs: tf.Tensor[] = [projection, Whh, bhh, ...state, ...(bih ? [bih] : []), ...(xin ? [xin] : [])];
  const run = tf.customGrad(((...args: tf.Tensor[]) => {
    const pass: Pass = {
      spec,
      T,
      B,
      H,
      xp: args[0]!,
      ids,
      W: args[1] as tf.Tensor2D,
      b: args[2] as tf.Tensor1D,
      state: args.slice(3, 3 + S) as tf.Tensor2D[],
      bx: bih ? (args[3 + S] as tf.Tensor1D) : null,
      xin: xin ? (args[3 + S + (bih ? 1 : 0)] as tf.Tensor2D) : null,
      keep,
    };
    recordOpPath(
      'fusedRecurrence',
      kernels !== null,
      kernels
        ? undefined
        : !spec.kernels
          ? `no kernels for ${cell}`
          : H % 4 !== 0
            ? `hidden size ${H} is not a multiple of 4`
            : (kernelsUnavailableReason() ?? undefined),
    );
    const { packed, gradFunc }: PassResult = kernels ? kernelRecurrence(kernels, pass) : jsRecurrence(pass);
    const grads = (dy: tf.Tensor): tf.Tensor[] => {
      const g = gradFunc(dy);
      return [g.dxp, g.dW, g.db, ...g.dState, ...(g.dbx ? [g.dbx] : []), ...(g.dxin ? [g.dxin] : [])];
    };
    return { value: packed, gradFunc: grads };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  // One tensor out of customGrad: h_1..h_T and, for the LSTM, c_T as a last row; split here.
  let packed: tf.Tensor3D;
  try {
    packed = run(...inputs) as tf.Tensor3D;
  } finally {
    projected?.dispose();
  }
  const outputs = S === 2 ? (tf.slice(packed, [0, 0, 0], [T, B, H]) as tf.Tensor3D) : packed;
  const finalState = [tf.reshape(tf.slice(packed, [T - 1, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D];
  if (S === 2) finalState.push(tf.reshape(tf.slice(packed, [T, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D);
  if (S === 2) packed.dispose();
  return { outputs, state: finalState };
}
