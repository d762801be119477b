// PyTorch state dicts (name -> float32 array) of d2l's language models <-> RecurrentWeights:
// the concise `RNNModel` (nn.RNN/GRU/LSTM + nn.Linear) and the scratch model's named parameters.
import { GATES, type CellKind } from '@rnnkit/models/cell-kinds';
import { refuse, sizeOf, type NamedArray } from './errors.js';
import { add, array, columns, concatColumns, transpose, unitInputs, type RecurrentUnit, type RecurrentWeights } from './recurrent-weights.js';

/** A PyTorch state dict: parameter name -> float32 values in PyTorch's layout. */
export type TorchStateDict = Record<string, NamedArray>;

/** Which PyTorch code a state dict belongs to: d2l's concise `RNNModel` or its scratch model (`get_params` names). */
export type TorchModelStyle = 'concise' | 'scratch';

/** The cell kind of a gate count (PyTorch's weights say only their shape). */
const CELL_OF_GATES: Record<number, CellKind> = Object.fromEntries(Object.entries(GATES).map(([cell, gates]) => [gates, cell as CellKind]));
const CONCISE_NAME = /^rnn\.(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$/;

/** d2l's scratch parameter names per cell, in `get_params` order (chapter 8.5, 9.1, 9.2). */
export const SCRATCH_NAMES: Record<CellKind, readonly string[]> = {
  rnn: ['W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q'],
  gru: ['W_xz', 'W_hz', 'b_z', 'W_xr', 'W_hr', 'b_r', 'W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q'],
  lstm: ['W_xi', 'W_hi', 'b_i', 'W_xf', 'W_hf', 'b_f', 'W_xo', 'W_ho', 'b_o', 'W_xc', 'W_hc', 'b_c', 'W_hq', 'b_q'],
};
/** d2l's gate letters in PyTorch's gate order (GRU r, z, n = d2l's r, z, h; LSTM i, f, g, o = d2l's i, f, c, o). */
const SCRATCH_GATES: Record<CellKind, readonly string[]> = { rnn: ['h'], gru: ['r', 'z', 'h'], lstm: ['i', 'f', 'c', 'o'] };

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Which style a state dict's names are, or null. */
export function torchStyleOf(state: TorchStateDict): TorchModelStyle | null {
  const names = Object.keys(state);
  if (names.some((n) => CONCISE_NAME.test(n))) return 'concise';
  if (names.includes('W_hq') && names.includes('b_q')) return 'scratch';
  return null;
}

/** Checks that `state` has exactly `expected` (name -> shape): names the first missing, extra or misshapen tensor. */
export function checkTensors(file: string, state: TorchStateDict, expected: Record<string, number[]>, what: string): void {
  for (const name of Object.keys(state)) {
    if (!Object.hasOwn(expected, name)) throw refuse(file, `has a tensor "${name}" that ${what} does not have (it has ${Object.keys(expected).join(', ')}).`);
  }
  for (const [name, shape] of Object.entries(expected)) {
    const t = state[name];
    if (!t) throw refuse(file, `has no tensor "${name}", which ${what} needs (shape ${shapeText(shape)}).`);
    if (t.shape.join() !== shape.join()) throw refuse(file, `gives "${name}" the shape ${shapeText(t.shape)}; ${what} needs ${shapeText(shape)}.`);
    if (t.data.length !== sizeOf(shape)) throw refuse(file, `gives "${name}" ${t.data.length} values for the shape ${shapeText(shape)}.`);
  }
}

/** The names and shapes of d2l's concise RNNModel with these sizes (PyTorch's layout). */
export function conciseShapes(
  cell: CellKind,
  vocabSize: number,
  H: number,
  numLayers: number,
  numDirections: number,
  prefix = 'rnn.',
): Record<string, number[]> {
  const GH = GATES[cell] * H;
  const out: Record<string, number[]> = {};
  for (let l = 0; l < numLayers; l++) {
    for (let d = 0; d < numDirections; d++) {
      const s = `_l${l}${d === 1 ? '_reverse' : ''}`;
      out[`${prefix}weight_ih${s}`] = [GH, l === 0 ? vocabSize : numDirections * H];
      out[`${prefix}weight_hh${s}`] = [GH, H];
      out[`${prefix}bias_ih${s}`] = [GH];
      out[`${prefix}bias_hh${s}`] = [GH];
    }
  }
  return out;
}

/** Layers, directions, hidden size and cell of the `rnn.*` tensors under `prefix`. */
export function recurrentSizes(file: string, state: TorchStateDict, prefix: string): { cell: CellKind; H: number; numLayers: number; numDirections: number } {
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}(weight|bias)_(ih|hh)_l(\\d+)(_reverse)?$`);
  let numLayers = 0;
  let numDirections = 1;
  for (const name of Object.keys(state)) {
    const m = pattern.exec(name);
    if (!m) continue;
    numLayers = Math.max(numLayers, Number(m[3]) + 1);
    if (m[4]) numDirections = 2;
  }
  const hh = state[`${prefix}weight_hh_l0`];
  if (!hh) throw refuse(file, `has no tensor "${prefix}weight_hh_l0": it is not a PyTorch nn.RNN/GRU/LSTM state dict.`);
  if (hh.shape.length !== 2 || !(hh.shape[1]! > 0))
    throw refuse(file, `gives "${prefix}weight_hh_l0" the shape ${shapeText(hh.shape)}; PyTorch's is [gates * hidden, hidden].`);
  const H = hh.shape[1]!;
  const cell = CELL_OF_GATES[hh.shape[0]! / H];
  if (!cell)
    throw refuse(
      file,
      `gives "${prefix}weight_hh_l0" the shape ${shapeText(hh.shape)}: ${hh.shape[0]} rows is not 1, 3 or 4 times the hidden size ${H} (RNN, GRU, LSTM).`,
    );
  if (numLayers > 64) throw refuse(file, `names layer ${numLayers - 1} in "${prefix}*": more layers than rnnkit builds (64).`);
  return { cell, H, numLayers, numDirections };
}

function conciseToWeights(file: string, state: TorchStateDict, vocabSize?: number): RecurrentWeights {
  const { cell, H, numLayers, numDirections } = recurrentSizes(file, state, 'rnn.');
  const linear = state['linear.weight'];
  if (!linear) throw refuse(file, 'has no tensor "linear.weight": d2l\'s RNNModel has rnn.* and linear.weight / linear.bias.');
  const V = linear.shape[0]!;
  if (vocabSize !== undefined && V !== vocabSize)
    throw refuse(file, `has an output layer (linear.weight ${shapeText(linear.shape)}) for ${V} tokens, but the vocabulary has ${vocabSize}.`);
  checkTensors(
    file,
    state,
    { ...conciseShapes(cell, V, H, numLayers, numDirections), 'linear.weight': [V, numDirections * H], 'linear.bias': [V] },
    `d2l's RNNModel (${cell.toUpperCase()}, ${numLayers} layer(s), ${numDirections} direction(s), hidden ${H}, vocabulary ${V})`,
  );
  const GH = GATES[cell] * H;
  const dims = { vocabSize: V, numHiddens: H, numDirections };
  const units: RecurrentUnit[] = [];
  for (let l = 0; l < numLayers; l++) {
    for (let d = 0; d < numDirections; d++) {
      const s = `_l${l}${d === 1 ? '_reverse' : ''}`;
      const get = (n: string) => (state[`rnn.${n}${s}`] as NamedArray).data;
      units.push({
        W_ih: transpose(get('weight_ih'), GH, unitInputs(dims, l)),
        W_hh: transpose(get('weight_hh'), GH, H),
        b_ih: get('bias_ih').slice(),
        b_hh: get('bias_hh').slice(),
      });
    }
  }
  return {
    cell,
    resetAfter: true,
    vocabSize: V,
    numHiddens: H,
    numLayers,
    numDirections,
    units,
    W_out: transpose(linear.data, V, numDirections * H),
    b_out: (state['linear.bias'] as NamedArray).data.slice(),
  };
}

function scratchToWeights(file: string, state: TorchStateDict, vocabSize?: number): RecurrentWeights {
  const cell: CellKind = 'W_xz' in state ? 'gru' : 'W_xi' in state ? 'lstm' : 'rnn';
  const head = state.W_hq as NamedArray;
  if (head.shape.length !== 2) throw refuse(file, `gives "W_hq" the shape ${shapeText(head.shape)}; d2l's is [hidden, vocabulary].`);
  const [H, V] = head.shape as [number, number];
  if (vocabSize !== undefined && V !== vocabSize)
    throw refuse(file, `has an output layer (W_hq ${shapeText(head.shape)}) for ${V} tokens, but the vocabulary has ${vocabSize}.`);
  const expected: Record<string, number[]> = {};
  for (const name of SCRATCH_NAMES[cell]) {
    expected[name] = name === 'W_hq' ? [H, V] : name === 'b_q' ? [V] : name.startsWith('W_x') ? [V, H] : name.startsWith('W_h') ? [H, H] : [H];
  }
  checkTensors(file, state, expected, `d2l's scratch ${cell.toUpperCase()} (hidden ${H}, vocabulary ${V})`);
  const get = (n: string) => (state[n] as NamedArray).data;
  const gates = SCRATCH_GATES[cell];
  return {
    cell,
    resetAfter: false,
    vocabSize: V,
    numHiddens: H,
    numLayers: 1,
    numDirections: 1,
    units: [
      {
        W_ih: concatColumns(
          gates.map((g) => get(`W_x${g}`)),
          V,
        ),
        W_hh: concatColumns(
          gates.map((g) => get(`W_h${g}`)),
          H,
        ),
        b_ih: concatColumns(
          gates.map((g) => get(`b_${g}`)),
          1,
        ),
        b_hh: new Float32Array(gates.length * H),
      },
    ],
    W_out: get('W_hq').slice(),
    b_out: get('b_q').slice(),
  };
}

/**
 * Reads a PyTorch state dict of d2l's concise `RNNModel` (`rnn.weight_ih_l0`, ..., `linear.weight`,
 * `linear.bias`; any cell, layers, directions) or of d2l's scratch model (`W_xh`, `W_hh`, `b_h`,
 * `W_hq`, `b_q` and the GRU's and LSTM's gates, saved under d2l's names). Checks every name and
 * shape (missing, extra or misshapen tensors are refused, naming `file` and the tensor) and, when
 * given, that the output layer has `vocabSize` rows.
 */
export function weightsFromTorch(state: TorchStateDict, options: { file?: string; vocabSize?: number } = {}): RecurrentWeights {
  const file = options.file ?? 'the state dict';
  const style = torchStyleOf(state);
  if (style === 'concise') return conciseToWeights(file, state, options.vocabSize);
  if (style === 'scratch') return scratchToWeights(file, state, options.vocabSize);
  const names = Object.keys(state);
  throw refuse(
    file,
    `is not a state dict of d2l's RNNModel (rnn.weight_ih_l0, ..., linear.weight) or scratch model (W_xh, ..., W_hq, b_q): it has ${names.length ? names.slice(0, 6).join(', ') : 'no tensors'}${names.length > 6 ? ', ...' : ''}.`,
  );
}

/** Which style `weightsToTorch` writes by default: concise, except d2l's reset-before GRU (nn.GRU cannot hold it). */
export function defaultTorchStyle(w: Pick<RecurrentWeights, 'cell' | 'resetAfter'>): TorchModelStyle {
  return w.cell === 'gru' && !w.resetAfter ? 'scratch' : 'concise';
}

/**
 * The PyTorch state dict of these weights: d2l's concise `RNNModel` names (`load_state_dict(...,
 * strict=True)` takes it) or, with `style: 'scratch'` (one unidirectional layer), d2l's scratch
 * parameter names. A reset-before GRU has only the scratch form, a reset-after one only the concise form.
 */
export function weightsToTorch(w: RecurrentWeights, style: TorchModelStyle = defaultTorchStyle(w)): TorchStateDict {
  const H = w.numHiddens;
  const GH = GATES[w.cell] * H;
  const out: TorchStateDict = {};
  if (style === 'concise') {
    if (w.cell === 'gru' && !w.resetAfter) {
      throw new Error(
        "This GRU applies its reset gate before the recurrent matmul (d2l's scratch GRU, or tf.layers'): nn.GRU cannot hold it. Export it with d2l's scratch names (one layer) or as ONNX.",
      );
    }
    w.units.forEach((u, i) => {
      const l = Math.floor(i / w.numDirections);
      const s = `_l${l}${i % w.numDirections === 1 ? '_reverse' : ''}`;
      const inputs = unitInputs(w, l);
      out[`rnn.weight_ih${s}`] = array([GH, inputs], transpose(u.W_ih, inputs, GH));
      out[`rnn.weight_hh${s}`] = array([GH, H], transpose(u.W_hh, H, GH));
      out[`rnn.bias_ih${s}`] = array([GH], u.b_ih.slice());
      out[`rnn.bias_hh${s}`] = array([GH], u.b_hh.slice());
    });
    out['linear.weight'] = array([w.vocabSize, w.numDirections * H], transpose(w.W_out, w.numDirections * H, w.vocabSize));
    out['linear.bias'] = array([w.vocabSize], w.b_out.slice());
    return out;
  }
  if (w.numLayers !== 1 || w.numDirections !== 1)
    throw new Error("d2l's scratch model has one unidirectional layer: export this model with the concise names.");
  if (w.cell === 'gru' && w.resetAfter) {
    throw new Error("This GRU is PyTorch's (reset gate after the recurrent matmul): d2l's scratch GRU cannot hold it. Export it with the concise names.");
  }
  const u = w.units[0] as RecurrentUnit;
  const V = w.vocabSize;
  const bias = add(u.b_ih, u.b_hh);
  SCRATCH_GATES[w.cell].forEach((g, i) => {
    out[`W_x${g}`] = array([V, H], columns(u.W_ih, V, GH, i * H, H));
    out[`W_h${g}`] = array([H, H], columns(u.W_hh, H, GH, i * H, H));
    out[`b_${g}`] = array([H], bias.slice(i * H, (i + 1) * H));
  });
  out.W_hq = array([H, V], w.W_out.slice());
  out.b_q = array([V], w.b_out.slice());
  // d2l's get_params order.
  return Object.fromEntries(SCRATCH_NAMES[w.cell].map((n) => [n, out[n] as NamedArray]));
}
