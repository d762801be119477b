// The one in-memory form every converter goes through: a language model's recurrent units and
// dense head in PyTorch's layout and gate order, transposed to (inputs, gates*hidden) as rnnkit's
// fused model keeps them. PyTorch, d2l's scratch names, rnnkit's three implementations and ONNX
// each convert to and from it, so every pair of formats meets here.
import type { CellKind } from '@rnnkit/models/cell-kinds';
import type { NamedArray } from './errors.js';

/** One (layer, direction) of the recurrence. Gate blocks are H columns each, in PyTorch's order. */
export interface RecurrentUnit {
  /** (inputs, G*H): the input projection, x W_ih. */
  W_ih: Float32Array;
  /** (H, G*H). */
  W_hh: Float32Array;
  /** (G*H). */
  b_ih: Float32Array;
  /** (G*H). For a reset-after GRU its n block sits inside r * (...); elsewhere only b_ih + b_hh matters. */
  b_hh: Float32Array;
}

/** A whole language model: one-hot inputs of `vocabSize`, the stacked recurrence, the dense head. */
export interface RecurrentWeights {
  cell: CellKind;
  /** GRU only: true is PyTorch's nn.GRU (reset gate after the recurrent matmul), false is d2l's scratch GRU. */
  resetAfter: boolean;
  vocabSize: number;
  numHiddens: number;
  numLayers: number;
  numDirections: number;
  /** Index layer * numDirections + direction (direction 1 runs backwards). */
  units: RecurrentUnit[];
  /** (numDirections * H, vocab). */
  W_out: Float32Array;
  /** (vocab). */
  b_out: Float32Array;
}

/** Inputs of layer `l`'s units. */
export const unitInputs = (w: Pick<RecurrentWeights, 'vocabSize' | 'numHiddens' | 'numDirections'>, l: number): number =>
  l === 0 ? w.vocabSize : w.numDirections * w.numHiddens;

/** Row-major (rows, cols) -> (cols, rows). */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

/** Columns [from, from + width) of a row-major (rows, cols) matrix. */
export function columns(data: Float32Array, rows: number, cols: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

/** Side by side: matrices of `rows` rows each, concatenated along columns. */
export function concatColumns(parts: Float32Array[], rows: number): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const cols = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let at = r * cols;
    parts.forEach((p, i) => {
      const w = widths[i] as number;
      out.set(p.subarray(r * w, (r + 1) * w), at);
      at += w;
    });
  }
  return out;
}

/** Reorders the H-wide gate blocks of a (rows, G*H) matrix (or a G*H vector with rows 1): out block i = in block order[i]. */
export function reorderGates(data: Float32Array, rows: number, H: number, order: readonly number[]): Float32Array {
  const G = order.length;
  return concatColumns(
    order.map((g) => columns(data, rows, G * H, g * H, H)),
    rows,
  );
}

export function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) + (b[i] as number);
  return out;
}

export const array = (shape: number[], data: Float32Array): NamedArray => ({ shape, data });

/** A one-line description: "GRU, 2 layers, bidirectional, 256 hidden, vocabulary 28". */
export function describeWeights(w: Pick<RecurrentWeights, 'cell' | 'numLayers' | 'numDirections' | 'numHiddens' | 'vocabSize' | 'resetAfter'>): string {
  const gru = w.cell === 'gru' ? (w.resetAfter ? " (PyTorch's reset-after)" : " (d2l's reset-before)") : '';
  return `${w.cell.toUpperCase()}${gru}, ${w.numLayers} layer${w.numLayers > 1 ? 's' : ''}${w.numDirections === 2 ? ', bidirectional' : ''}, ${w.numHiddens} hidden, vocabulary ${w.vocabSize}`;
}
