// ONNX -> RecurrentWeights, for graphs of the shape torch.onnx.export writes for d2l's RNNModel (and
// rnnkit's own exports): tokens one-hot encoded (OneHot, or Gather from a table), stacked standard
// RNN/GRU/LSTM nodes, a dense head (Gemm, or MatMul + Add). The graph is followed symbolically:
// every value is tracked as what it holds (the tokens, a layer's outputs, a state...) with its axes
// as products of named factors (steps, batch, directions, hidden...), so transposes and reshapes
// are checked, not guessed; anything the interpretation cannot vouch for is refused by name.
import { GATES, type CellKind } from '@rnnkit/models/cell-kinds';
import { checkFinite, refuse } from './errors.js';
import { ONNX_OPS } from './onnx-export.js';
import { decodeModel, tensorValues, typeName, type AttributeProto, type NodeProto, type TensorProto } from './onnx-proto.js';
import { transpose, type RecurrentUnit, type RecurrentWeights } from './recurrent-weights.js';

/** A factor of an axis: a named dimension of known size, or the symbolic batch and steps. */
interface Factor {
  id: string;
  /** null: symbolic (batch, steps). */
  size: number | null;
}
type Axes = Factor[][];

/** A size as a product: a number times symbolic factors. */
interface Size {
  n: number;
  syms: string[];
}

type Value =
  | { kind: 'const'; dims: number[]; float: Float32Array | null; ints: number[] | null }
  | { kind: 'shape'; sizes: Size[]; scalar: boolean }
  | { kind: 'data'; role: Role; axes: Axes; float: boolean };

type Role =
  | { is: 'tokens' }
  | { is: 'inputs'; table: { rows: number; cols: number; data: Float32Array } | null }
  | { is: 'sequence'; layer: number }
  | { is: 'hidden'; layer: number; c: boolean }
  | { is: 'stack'; layers: number[]; c: boolean }
  | { is: 'state'; c: boolean; from: number; to: number }
  | { is: 'projection'; W: Float32Array }
  | { is: 'logits'; W: Float32Array; b: Float32Array };

interface Layer {
  index: number;
  node: string;
  op: 'RNN' | 'GRU' | 'LSTM';
  H: number;
  D: number;
  resetAfter: boolean;
  inputs: number;
  units: RecurrentUnit[];
  /** Whether the initial states came from the graph's inputs (or were left out: zeros). */
  h0: boolean;
  c0: boolean;
}

/** Inputs and outputs each operator takes: [min inputs, max inputs, min outputs, max outputs]. */
const ARITY: Record<string, [number, number, number, number]> = {
  Transpose: [1, 1, 1, 1],
  Cast: [1, 1, 1, 1],
  OneHot: [3, 3, 1, 1],
  Gather: [2, 2, 1, 1],
  Squeeze: [1, 2, 1, 1],
  Unsqueeze: [1, 2, 1, 1],
  Reshape: [2, 2, 1, 1],
  Shape: [1, 1, 1, 1],
  Concat: [1, 64, 1, 1],
  Slice: [3, 5, 1, 1],
  Constant: [0, 0, 1, 1],
  Identity: [1, 1, 1, 1],
  RNN: [3, 6, 0, 2],
  GRU: [3, 6, 0, 2],
  LSTM: [3, 8, 0, 3],
  MatMul: [2, 2, 1, 1],
  Add: [2, 2, 1, 1],
  Gemm: [2, 3, 1, 1],
};
/** ONNX IR versions ONNX Runtime 1.30 loads (opset 7 came with IR 3). */
const IR_VERSIONS = [3, 13] as const;

const ALLOWED = new Set([
  'Transpose',
  'Cast',
  'OneHot',
  'Gather',
  'Squeeze',
  'Unsqueeze',
  'Reshape',
  'Shape',
  'Concat',
  'Slice',
  'Constant',
  'Identity',
  'RNN',
  'GRU',
  'LSTM',
  'MatMul',
  'Add',
  'Gemm',
]);

/** The newest opset ONNX Runtime 1.30 runs; the operators rnnkit reads keep their meaning up to it. */
const MAX_OPSET = 26;
const DEFAULT_ACTIVATIONS: Record<string, string[]> = { RNN: ['tanh'], GRU: ['sigmoid', 'tanh'], LSTM: ['sigmoid', 'tanh', 'tanh'] };
const CELL_OF_OP: Record<string, CellKind> = { RNN: 'rnn', GRU: 'gru', LSTM: 'lstm' };

const known = (size: Size): number | null => (size.syms.length === 0 ? size.n : null);
const sizeOfFactors = (factors: Factor[]): Size => ({
  n: factors.reduce((a, f) => a * (f.size ?? 1), 1),
  syms: factors.filter((f) => f.size === null).map((f) => f.id),
});
const sameSize = (a: Size, b: Size) => a.n === b.n && a.syms.slice().sort().join() === b.syms.slice().sort().join();
/** Factors of size 1 carry no data: ignored in every comparison. */
const meaningful = (factors: Factor[]) => factors.filter((f) => f.size !== 1);
const sameFactors = (a: Factor[], b: Factor[]) => {
  const x = meaningful(a);
  const y = meaningful(b);
  return x.length === y.length && x.every((f, i) => f.id === y[i]!.id);
};
const describeAxes = (axes: Axes) =>
  `[${axes
    .map(
      (a) =>
        meaningful(a)
          .map((f) => f.id)
          .join('*') || '1',
    )
    .join(', ')}]`;

export interface OnnxImportOptions {
  /** Names the file in refusals. */
  file?: string;
  /** The vocabulary's size: the one-hot width and the head's outputs must equal it. */
  vocabSize?: number;
}

/** What `onnxToWeights` found: the weights, and the vocabulary an rnnkit export carries in its metadata. */
export interface ImportedOnnx {
  weights: RecurrentWeights;
  /** d2l's idx_to_token from the `rnnkit.vocab` metadata, when the file has it. */
  vocabTokens?: unknown;
  /** The graph's inputs and outputs by role. */
  inputs: { tokens: string; h0?: string; c0?: string };
  outputs: { logits: string; hn?: string; cn?: string };
}

/**
 * Reads the language model of an ONNX file of the shape `torch.onnx.export` writes for d2l's
 * `RNNModel` (and `weightsToOnnx` writes): its weights come from the initializers. Anything else
 * (another operator, an attribute such as `clip` or non-default `activations`, a reverse-only
 * direction, sequence lengths, a state fed to the wrong layer, axes the operators would misread)
 * is refused with an `InteropError` naming the file and the node, operator, attribute or input.
 */
export function onnxToWeights(bytes: Uint8Array, options: OnnxImportOptions = {}): ImportedOnnx {
  const file = options.file ?? 'the ONNX model';
  const model = decodeModel(bytes, file);
  const graph = model.graph;
  if (!graph?.node?.length) throw refuse(file, 'has no graph (or an empty one): it is damaged or not an ONNX model.');
  const opset = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  const ir = Number(model.irVersion);
  if (!(ir >= IR_VERSIONS[0] && ir <= IR_VERSIONS[1]))
    throw refuse(
      file,
      `declares ${model.irVersion === undefined ? 'no IR version' : `IR version ${model.irVersion}`}; rnnkit reads ONNX IR versions ${IR_VERSIONS[0]} to ${IR_VERSIONS[1]}.`,
    );
  const version = Number(opset?.version);
  if (!opset || !(version >= 7 && version <= MAX_OPSET))
    throw refuse(file, `declares ${opset ? `opset ${opset.version}` : 'no default opset'}; rnnkit reads ONNX opsets 7 to ${MAX_OPSET}.`);
  if ((model.functions?.length ?? 0) > 0 || (graph.sparseInitializer?.length ?? 0) > 0)
    throw refuse(file, "has model-local functions or sparse initializers, which the graphs of d2l's RNNModel do not have.");

  const values = new Map<string, Value>();
  const inits = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if (values.has(name)) throw refuse(file, `has two initializers named "${name}".`);
    values.set(name, constOf(t, file, `the initializer "${name}"`));
    inits.add(name);
  }
  // The graph's own inputs: the tokens (integers) and the initial states (floats), by type and rank.
  const inputs: ImportedOnnx['inputs'] = { tokens: '' };
  const floatInputs: string[] = [];
  for (const input of graph.input ?? []) {
    const name = input.name ?? '';
    if (inits.has(name)) continue; // an initializer listed as an input (older exporters)
    const t = input.type?.tensorType;
    const rank = t?.shape?.dim?.length;
    if (t?.elemType === 7 || t?.elemType === 6) {
      if (inputs.tokens)
        throw refuse(
          file,
          `has two integer inputs ("${inputs.tokens}", "${name}"); d2l's RNNModel takes one, the tokens.${
            inputs.tokens === 'src' && name === 'tgt'
              ? ' (An encoder-decoder, as rnnkit export writes it? rnnkit imports those from safetensors: export with --format safetensors.)'
              : ''
          }`,
        );
      if (rank !== 2) throw refuse(file, `gives its input "${name}" rank ${rank}; the tokens are [batch, steps].`);
      inputs.tokens = name;
      values.set(name, { kind: 'data', role: { is: 'tokens' }, axes: [[{ id: 'batch', size: null }], [{ id: 'steps', size: null }]], float: false });
    } else if (t?.elemType === 1) {
      if (rank !== 3) throw refuse(file, `gives its input "${name}" rank ${rank}; a state is [layers * directions, batch, hidden].`);
      floatInputs.push(name);
    } else throw refuse(file, `has an input "${name}" of ${typeName(t?.elemType)}; d2l's RNNModel takes int64 tokens and float states.`);
  }
  if (!inputs.tokens) throw refuse(file, "has no integer input: d2l's RNNModel takes the tokens as int64 [batch, steps].");
  if (floatInputs.length > 2) throw refuse(file, `has ${floatInputs.length} float inputs; d2l's RNNModel takes h0 (and c0 for the LSTM).`);
  // Which float input is h and which c is told by the recurrent nodes that read them.
  const stateInputs = new Map<string, { c: boolean | null }>(floatInputs.map((n) => [n, { c: null }]));

  const layers = new Map<number, Layer>();
  /** The layer whose outputs the head reads. */
  let headLayer: number | null = null;
  /** Slice outputs -> the state input they slice. */
  const sliceSources = new Map<string, string>();
  /** Recurrent nodes that read a whole state input (fine for one layer only). */
  const wholeStates: { source: string; where: string }[] = [];
  let embedding: { rows: number; cols: number; data: Float32Array } | null = null;
  let vocabSize: number | null = null;
  const nodeName = (n: NodeProto, i: number) => `node "${n.name || `#${i}`}" (${n.opType})`;

  for (const [i, n] of graph.node.entries()) {
    const op = n.opType ?? '';
    const where = nodeName(n, i);
    if ((n.domain ?? '') !== '' && n.domain !== 'ai.onnx')
      throw refuse(file, `has ${where} of the domain "${n.domain}"; rnnkit reads standard ONNX operators.`);
    if (!ALLOWED.has(op)) {
      throw refuse(
        file,
        `has ${where}: the operator ${op} is not in d2l's RNNModel as torch.onnx.export writes it (one-hot or gather, RNN/GRU/LSTM, a dense head), so rnnkit cannot import it.`,
      );
    }
    const [minIn, maxIn, minOut, maxOut] = ARITY[op] as [number, number, number, number];
    const given = n.input?.length ?? 0;
    const made = n.output?.length ?? 0;
    if (given < minIn || given > maxIn || made < minOut || made > maxOut)
      throw refuse(file, `has ${where} with ${given} inputs and ${made} outputs; ${op} takes ${minIn}-${maxIn} inputs and gives ${minOut}-${maxOut} outputs.`);
    const ins = (n.input ?? []).map((name) => (name === '' ? undefined : value(name)));
    function value(name: string): Value {
      if (stateInputs.has(name)) return { kind: 'data', role: { is: 'state', c: false, from: -1, to: -1 }, axes: [], float: true };
      const v = values.get(name);
      if (!v) throw refuse(file, `has ${where} reading "${name}", which no earlier node, input or initializer gives.`);
      return v;
    }
    const attrs = attributes(n, file, where);
    const outs = n.output ?? [];
    const set = (k: number, v: Value) => {
      const name = outs[k];
      if (name === undefined || name === '') return;
      if (values.has(name) || stateInputs.has(name) || name === inputs.tokens) throw refuse(file, `has ${where} writing "${name}", which is already defined.`);
      values.set(name, v);
    };
    const onlyAttrs = (allowed: string[]) => {
      for (const a of attrs.keys()) if (!allowed.includes(a)) throw refuse(file, `has ${where} with the attribute ${a}, which rnnkit does not read for ${op}.`);
    };
    const constArg = (k: number, what: string) => {
      const v = ins[k];
      if (v?.kind !== 'const') throw refuse(file, `has ${where} whose ${what} (input ${k + 1}) is not a constant.`);
      return v;
    };
    const dataArg = (k: number, what: string) => {
      const v = ins[k];
      if (v?.kind !== 'data') throw refuse(file, `has ${where} whose ${what} (input ${k + 1}) is not a tensor of the model's data.`);
      return v;
    };
    const rolesOf = (k: number) => (ins[k]?.kind === 'data' ? (ins[k] as Extract<Value, { kind: 'data' }>).role.is : ins[k]?.kind);

    switch (op) {
      case 'Constant': {
        onlyAttrs(['value', 'value_float', 'value_floats', 'value_int', 'value_ints']);
        const [name, a] = [...attrs.entries()][0] ?? [];
        if (!a) throw refuse(file, `has ${where} with no value.`);
        if (name === 'value') set(0, constOf(a.t ?? {}, file, `the value of ${where}`));
        else if (name === 'value_float') set(0, { kind: 'const', dims: [], float: Float32Array.of(a.f ?? 0), ints: null });
        else if (name === 'value_floats') set(0, { kind: 'const', dims: [a.floats?.length ?? 0], float: Float32Array.from(a.floats ?? []), ints: null });
        else if (name === 'value_int') set(0, { kind: 'const', dims: [], float: null, ints: [Number(a.i ?? 0)] });
        else set(0, { kind: 'const', dims: [a.ints?.length ?? 0], float: null, ints: (a.ints ?? []).map(Number) });
        break;
      }
      case 'Identity':
        onlyAttrs([]);
        set(0, ins[0] as Value);
        break;
      case 'Cast': {
        onlyAttrs(['to', 'saturate']);
        const to = Number(attrs.get('to')?.i);
        const x = ins[0] as Value;
        const toFloat = to === 1 || to === 11 || to === 10;
        const toInt = to === 7 || to === 6;
        if (!toFloat && !toInt) throw refuse(file, `has ${where} casting to ${typeName(to)}; rnnkit follows casts to float and integer types only.`);
        if (x.kind === 'data') {
          if (x.float && toInt) throw refuse(file, `has ${where} casting the model's floats to ${typeName(to)}.`);
          set(0, { ...x, float: x.float || toFloat });
        } else if (x.kind === 'const') {
          if (!toFloat && !x.ints) throw refuse(file, `has ${where} casting floats to integers.`);
          set(0, toFloat ? { kind: 'const', dims: x.dims, float: x.float ?? Float32Array.from(x.ints ?? []), ints: null } : x);
        } else set(0, x);
        break;
      }
      case 'Transpose': {
        onlyAttrs(['perm']);
        const x = dataArg(0, 'input');
        const perm = (attrs.get('perm')?.ints ?? x.axes.map((_, k) => x.axes.length - 1 - k)).map(Number);
        if (
          perm.length !== x.axes.length ||
          perm
            .slice()
            .sort()
            .some((p, k) => p !== k)
        )
          throw refuse(file, `has ${where} with perm [${perm}] for a tensor of rank ${x.axes.length}.`);
        set(0, { ...x, axes: perm.map((p) => x.axes[p] as Factor[]) });
        break;
      }
      case 'OneHot': {
        onlyAttrs(['axis']);
        const x = dataArg(0, 'indices');
        if (x.role.is !== 'tokens') throw refuse(file, `has ${where} one-hot encoding something other than the tokens.`);
        const depth = constArg(1, 'depth');
        const V = Number((depth.ints ?? Array.from(depth.float ?? []))[0]);
        const on = constArg(2, 'values');
        const pair = on.float ? Array.from(on.float) : (on.ints ?? []);
        if (pair.length !== 2 || pair[0] !== 0 || pair[1] !== 1) throw refuse(file, `has ${where} with the values [${pair}]; a one-hot encoding is [0, 1].`);
        const axis = Number(attrs.get('axis')?.i ?? -1);
        if (axis !== -1 && axis !== x.axes.length) throw refuse(file, `has ${where} with axis ${axis}; rnnkit reads one-hot encodings on the last axis.`);
        if (!(Number.isSafeInteger(V) && V > 0)) throw refuse(file, `has ${where} of depth ${V}.`);
        checkVocab(V, where);
        set(0, { kind: 'data', role: { is: 'inputs', table: null }, axes: [...x.axes, [{ id: 'vocab', size: V }]], float: on.float !== null });
        break;
      }
      case 'Gather': {
        onlyAttrs(['axis']);
        const axis = Number(attrs.get('axis')?.i ?? 0);
        const x = ins[0];
        if (x?.kind === 'shape') {
          const idx = constArg(1, 'indices');
          if (axis !== 0) throw refuse(file, `has ${where} with axis ${axis} on a shape.`);
          const picks = (idx.ints ?? []).map((k) => x.sizes[k < 0 ? k + x.sizes.length : k]);
          if (picks.some((p) => p === undefined)) throw refuse(file, `has ${where} taking an index outside a shape of rank ${x.sizes.length}.`);
          set(0, { kind: 'shape', sizes: picks as Size[], scalar: idx.dims.length === 0 });
        } else if (x?.kind === 'const' && x.float && rolesOf(1) === 'tokens') {
          // A lookup table in place of the one-hot encoding: the first layer's input weights absorb it.
          if (axis !== 0 || x.dims.length !== 2) throw refuse(file, `has ${where} gathering along axis ${axis} of a table of rank ${x.dims.length}.`);
          const [rows, cols] = x.dims as [number, number];
          checkVocab(rows, where);
          checkFinite(file, `the table of ${where}`, x.float);
          embedding = { rows, cols, data: x.float };
          const t = ins[1] as Extract<Value, { kind: 'data' }>;
          set(0, { kind: 'data', role: { is: 'inputs', table: embedding }, axes: [...t.axes, [{ id: 'embedding', size: cols }]], float: true });
        } else throw refuse(file, `has ${where}, which gathers something other than a shape's entries or a table's rows by token.`);
        break;
      }
      case 'Shape': {
        onlyAttrs([]);
        const x = dataArg(0, 'input');
        set(0, { kind: 'shape', sizes: x.axes.map(sizeOfFactors), scalar: false });
        break;
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        onlyAttrs(['axes']);
        const axesAttr = attrs.get('axes')?.ints?.map(Number) ?? (ins[1] ? (constArg(1, 'axes').ints ?? []) : null);
        const x = ins[0] as Value;
        if (x.kind === 'shape') {
          if (op === 'Unsqueeze' && x.scalar && (axesAttr ?? []).join() === '0') set(0, { kind: 'shape', sizes: x.sizes, scalar: false });
          else throw refuse(file, `has ${where} reshaping a shape in a way rnnkit does not follow.`);
          break;
        }
        if (x.kind === 'const') {
          if (op === 'Unsqueeze' && x.dims.length === 0 && (axesAttr ?? []).join() === '0') set(0, { ...x, dims: [1] });
          else throw refuse(file, `has ${where} on a constant, which rnnkit does not follow.`);
          break;
        }
        const d = dataArg(0, 'input');
        if (op === 'Unsqueeze') throw refuse(file, `has ${where} adding an axis to the model's data.`);
        const rank = d.axes.length;
        const drop = (axesAttr ?? d.axes.flatMap((a, k) => (sizeOfFactors(a).syms.length === 0 && sizeOfFactors(a).n === 1 ? [k] : []))).map((k) =>
          k < 0 ? k + rank : k,
        );
        for (const k of drop) {
          const a = d.axes[k];
          if (!a || sizeOfFactors(a).syms.length > 0 || sizeOfFactors(a).n !== 1)
            throw refuse(file, `has ${where} squeezing axis ${k} of ${describeAxes(d.axes)}, which is not of size 1.`);
        }
        const kept = d.axes.filter((_, k) => !drop.includes(k));
        // Size-1 factors carry no data: comparisons ignore them, so dropping them keeps the meaning.
        set(0, { ...d, axes: kept });
        break;
      }
      case 'Concat': {
        onlyAttrs(['axis']);
        const axis = Number(attrs.get('axis')?.i);
        if (ins.every((v) => v?.kind === 'shape' || v?.kind === 'const')) {
          if (axis !== 0) throw refuse(file, `has ${where} joining shapes along axis ${axis}.`);
          const sizes: Size[] = [];
          for (const v of ins) {
            if (v?.kind === 'shape') sizes.push(...v.sizes);
            else if (v?.kind === 'const' && v.ints && v.dims.length === 1) sizes.push(...v.ints.map((k) => ({ n: k, syms: [] })));
            else throw refuse(file, `has ${where} joining a shape with a non-integer constant.`);
          }
          set(0, { kind: 'shape', sizes, scalar: false });
          break;
        }
        // The final states: each layer's, in layer order, along the first axis.
        const parts = ins.map((v) => (v?.kind === 'data' && (v.role.is === 'hidden' || v.role.is === 'stack') ? v : null));
        if (axis !== 0 || parts.some((p) => p === null))
          throw refuse(file, `has ${where}, which joins something other than the layers' final states along axis 0.`);
        const first = parts[0]!.role as Extract<Role, { is: 'hidden' | 'stack' }>;
        const layersJoined = parts.flatMap((p) => {
          const r = p!.role as Extract<Role, { is: 'hidden' | 'stack' }>;
          if (r.c !== first.c) throw refuse(file, `has ${where} joining hidden and cell states.`);
          return r.is === 'hidden' ? [r.layer] : r.layers;
        });
        set(0, { kind: 'data', role: { is: 'stack', layers: layersJoined, c: first.c }, axes: parts[0]!.axes, float: true });
        break;
      }
      case 'Slice': {
        onlyAttrs([]);
        const x = ins[0];
        const starts = constArg(1, 'starts').ints ?? [];
        const ends = constArg(2, 'ends').ints ?? [];
        const axes = ins[3] ? (constArg(3, 'axes').ints ?? []) : [0];
        const steps = ins[4] ? (constArg(4, 'steps').ints ?? []) : [1];
        if (x?.kind !== 'data' || x.role.is !== 'state' || x.role.from !== -1)
          throw refuse(file, `has ${where} slicing something other than an initial-state input of the graph.`);
        if (starts.length !== 1 || ends.length !== 1 || axes.join() !== '0' || steps.join() !== '1')
          throw refuse(file, `has ${where} slicing a state other than along its first axis with step 1.`);
        const stateName = (n.input ?? [])[0] as string;
        set(0, { kind: 'data', role: { is: 'state', c: false, from: starts[0]!, to: ends[0]! }, axes: [], float: true });
        sliceSources.set(outs[0] ?? '', stateName);
        break;
      }
      case 'Reshape': {
        onlyAttrs(['allowzero']);
        const x = dataArg(0, 'data');
        if (Number(attrs.get('allowzero')?.i ?? 0) !== 0) throw refuse(file, `has ${where} with allowzero 1.`);
        const target = ins[1];
        let sizes: (Size | 'copy' | 'infer')[];
        if (target?.kind === 'shape') sizes = target.sizes.map((s) => (known(s) === 0 ? 'copy' : known(s) === -1 ? 'infer' : s));
        else if (target?.kind === 'const' && target.ints) sizes = target.ints.map((k) => (k === 0 ? 'copy' : k === -1 ? 'infer' : { n: k, syms: [] }));
        else throw refuse(file, `has ${where} whose shape is not one rnnkit can follow.`);
        set(0, { ...x, axes: reshape(x.axes, sizes, file, where) });
        break;
      }
      case 'RNN':
      case 'GRU':
      case 'LSTM': {
        recurrent(n, op, where, ins, attrs, set);
        break;
      }
      case 'MatMul': {
        onlyAttrs([]);
        const x = dataArg(0, 'input');
        const W = constArg(1, 'weight');
        if (x.role.is !== 'sequence') throw refuse(file, `has ${where} multiplying something other than the last recurrent layer's outputs.`);
        const features = headFeatures(x, where);
        if (W.dims.length !== 2 || !W.float || W.dims[0] !== features)
          throw refuse(file, `has ${where} with a weight of shape [${W.dims}] for ${features} features.`);
        checkVocab(W.dims[1]!, where);
        set(0, { kind: 'data', role: { is: 'projection', W: W.float }, axes: [...x.axes.slice(0, -1), [{ id: 'vocab', size: W.dims[1]! }]], float: true });
        headLayer = (x.role as { layer: number }).layer;
        break;
      }
      case 'Add': {
        onlyAttrs([]);
        const [a, b] = ins;
        const [x, c] = a?.kind === 'data' ? [a, b] : [b, a];
        if (x?.kind !== 'data' || x.role.is !== 'projection' || c?.kind !== 'const' || !c.float)
          throw refuse(file, `has ${where}, which adds something other than a bias to the head's product.`);
        const V = (x.axes.at(-1) as Factor[])[0]!.size!;
        if (c.float.length !== V || c.dims.length !== 1) throw refuse(file, `has ${where} with a bias of shape [${c.dims}] for ${V} outputs.`);
        set(0, { ...x, role: { is: 'logits', W: x.role.W, b: c.float } });
        break;
      }
      case 'Gemm': {
        onlyAttrs(['alpha', 'beta', 'transA', 'transB']);
        const x = dataArg(0, 'A');
        const W = constArg(1, 'B');
        if (x.role.is !== 'sequence') throw refuse(file, `has ${where} multiplying something other than the last recurrent layer's outputs.`);
        if (Number(attrs.get('transA')?.i ?? 0) !== 0) throw refuse(file, `has ${where} with transA 1.`);
        for (const k of ['alpha', 'beta']) if ((attrs.get(k)?.f ?? 1) !== 1) throw refuse(file, `has ${where} with ${k} ${attrs.get(k)?.f}; rnnkit reads 1.`);
        if (x.axes.length !== 2) throw refuse(file, `has ${where} on an input of rank ${x.axes.length}.`);
        const features = headFeatures(x, where);
        const transB = Number(attrs.get('transB')?.i ?? 0) === 1;
        if (W.dims.length !== 2 || !W.float) throw refuse(file, `has ${where} with a weight of shape [${W.dims}].`);
        const [rows, cols] = W.dims as [number, number];
        const V = transB ? rows : cols;
        if ((transB ? cols : rows) !== features) throw refuse(file, `has ${where} with a weight of shape [${W.dims}] for ${features} features.`);
        checkVocab(V, where);
        const Wout = transB ? transpose(W.float, rows, cols) : W.float;
        const c = ins[2];
        let b: Float32Array = new Float32Array(V);
        if (c) {
          if (c.kind !== 'const' || !c.float || c.float.length !== V || c.dims.length !== 1)
            throw refuse(file, `has ${where} whose bias is not a constant vector of ${V}.`);
          b = c.float;
        }
        set(0, { kind: 'data', role: { is: 'logits', W: Wout, b }, axes: [x.axes[0]!, [{ id: 'vocab', size: V }]], float: true });
        headLayer = (x.role as { layer: number }).layer;
        break;
      }
    }
  }

  // --- helpers that need the walk's state ---
  function checkVocab(V: number, where: string) {
    if (options.vocabSize !== undefined && V !== options.vocabSize)
      throw refuse(file, `has ${where} for ${V} tokens, but the vocabulary has ${options.vocabSize}.`);
    if (vocabSize !== null && V !== vocabSize) throw refuse(file, `has ${where} for ${V} tokens, but the model's other parts have ${vocabSize}.`);
    vocabSize = V;
  }
  function headFeatures(x: Extract<Value, { kind: 'data' }>, where: string): number {
    const layer = layers.get((x.role as { layer: number }).layer) as Layer;
    const last = x.axes.at(-1) as Factor[];
    const want = [
      { id: `l${layer.index}.directions`, size: layer.D },
      { id: `l${layer.index}.hidden`, size: layer.H },
    ];
    if (!sameFactors(last, want))
      throw refuse(file, `has ${where} reading ${describeAxes(x.axes)}; the head reads the directions' outputs side by side on the last axis.`);
    const rest = meaningful(x.axes.slice(0, -1).flat()).map((f) => f.id);
    if (rest.join() !== 'steps,batch') throw refuse(file, `has ${where} reading ${describeAxes(x.axes)}: its rows are not the steps and batch in order.`);
    return layer.D * layer.H;
  }

  function recurrent(
    n: NodeProto,
    op: 'RNN' | 'GRU' | 'LSTM',
    where: string,
    ins: (Value | undefined)[],
    attrs: Map<string, AttributeProto>,
    set: (k: number, v: Value) => void,
  ) {
    for (const a of attrs.keys()) {
      if (!['hidden_size', 'direction', 'activations', 'linear_before_reset', 'layout', 'input_forget'].includes(a)) {
        throw refuse(file, `has ${where} with the attribute ${a}, which rnnkit's ${op} does not have (only PyTorch's defaults import).`);
      }
    }
    const H = Number(attrs.get('hidden_size')?.i);
    if (!(Number.isSafeInteger(H) && H > 0)) throw refuse(file, `has ${where} without a valid hidden_size.`);
    const direction = attrs.has('direction') ? new TextDecoder().decode(attrs.get('direction')?.s) : 'forward';
    if (direction !== 'forward' && direction !== 'bidirectional')
      throw refuse(file, `has ${where} with direction "${direction}"; rnnkit's layers run forward, or both ways (bidirectional).`);
    const D = direction === 'bidirectional' ? 2 : 1;
    const activations = (attrs.get('activations')?.strings ?? []).map((s) => new TextDecoder().decode(s).toLowerCase());
    const defaults = DEFAULT_ACTIVATIONS[op] as string[];
    if (
      activations.length > 0 &&
      activations.join() !==
        Array.from({ length: D }, () => defaults)
          .flat()
          .join()
    ) {
      throw refuse(file, `has ${where} with the activations [${activations.join(', ')}]; rnnkit's ${op} uses [${defaults.join(', ')}] per direction.`);
    }
    if (Number(attrs.get('layout')?.i ?? 0) !== 0) throw refuse(file, `has ${where} with layout 1 (batch first); rnnkit reads layout 0.`);
    if (Number(attrs.get('input_forget')?.i ?? 0) !== 0) throw refuse(file, `has ${where} with input_forget 1, which rnnkit's LSTM does not have.`);
    const lbr = Number(attrs.get('linear_before_reset')?.i ?? 0);
    if (op !== 'GRU' && attrs.has('linear_before_reset')) throw refuse(file, `has ${where} with linear_before_reset, a GRU attribute.`);
    if (lbr !== 0 && lbr !== 1) throw refuse(file, `has ${where} with linear_before_reset ${lbr}.`);
    const names = n.input ?? [];
    if (names[4]) throw refuse(file, `has ${where} with sequence_lens "${names[4]}"; rnnkit's models run every sequence to the end.`);
    if (names[7]) throw refuse(file, `has ${where} with peephole weights P "${names[7]}", which rnnkit's LSTM does not have.`);
    if (names.length > (op === 'LSTM' ? 8 : 6)) throw refuse(file, `has ${where} with ${names.length} inputs.`);
    if (op !== 'LSTM' && names[6]) throw refuse(file, `has ${where} with an initial cell state, which ${op} does not have.`);
    const x = ins[0];
    if (x?.kind !== 'data' || (x.role.is !== 'inputs' && x.role.is !== 'sequence'))
      throw refuse(file, `has ${where} whose input X is neither the encoded tokens nor the previous layer's outputs.`);
    if (!x.float) throw refuse(file, `has ${where} reading integers as X (cast the one-hot encoding to float).`);
    const layerIndex = x.role.is === 'inputs' ? 0 : x.role.layer + 1;
    if (layers.has(layerIndex)) throw refuse(file, `has ${where} as a second layer ${layerIndex} (two recurrent nodes read the same input).`);
    const prev = layerIndex > 0 ? (layers.get(layerIndex - 1) as Layer) : null;
    // X must be [steps, batch, features] with the features of what feeds it.
    const features: Factor[] =
      x.role.is === 'inputs'
        ? x.role.table
          ? [{ id: 'embedding', size: x.role.table.cols }]
          : [{ id: 'vocab', size: vocabSize ?? 0 }]
        : [
            { id: `l${layerIndex - 1}.directions`, size: prev!.D },
            { id: `l${layerIndex - 1}.hidden`, size: prev!.H },
          ];
    if (
      x.axes.length !== 3 ||
      !sameFactors(x.axes[0]!, [{ id: 'steps', size: null }]) ||
      !sameFactors(x.axes[1]!, [{ id: 'batch', size: null }]) ||
      !sameFactors(x.axes[2]!, features)
    ) {
      throw refuse(
        file,
        `has ${where} reading X as ${describeAxes(x.axes)}; it must be [steps, batch, ${
          meaningful(features)
            .map((f) => f.id)
            .join('*') || '1'
        }].`,
      );
    }
    const inputs = features.reduce((a, f) => a * (f.size ?? 1), 1);
    const G = GATES[CELL_OF_OP[op] as CellKind];
    const GH = G * H;
    const tensor = (k: number, what: string, dims: number[], optional = false): Float32Array => {
      const v = ins[k];
      if (!v && optional) return new Float32Array(dims.reduce((a, b) => a * b, 1));
      if (v?.kind !== 'const' || !v.float) throw refuse(file, `has ${where} whose ${what} is not a constant float tensor.`);
      if (v.dims.join() !== dims.join())
        throw refuse(file, `has ${where} whose ${what} has the shape [${v.dims}]; hidden_size ${H} and its input need [${dims}].`);
      checkFinite(file, `the ${what} of ${where}`, v.float);
      return v.float;
    };
    const W = tensor(1, 'W', [D, GH, inputs]);
    const R = tensor(2, 'R', [D, GH, H]);
    const B = tensor(3, 'B', [D, 2 * GH], true);
    const { order } = ONNX_OPS[CELL_OF_OP[op] as CellKind];
    const back = order.map((_, i) => order.indexOf(i)); // ONNX's blocks -> PyTorch's order
    const units: RecurrentUnit[] = [];
    for (let d = 0; d < D; d++) {
      const w = W.subarray(d * GH * inputs, (d + 1) * GH * inputs);
      const r = R.subarray(d * GH * H, (d + 1) * GH * H);
      const b = B.subarray(d * 2 * GH, (d + 1) * 2 * GH);
      const blocks = (m: Float32Array, cols: number) => {
        // m: (G*H, cols) in ONNX's gate order -> (cols, G*H) in PyTorch's.
        const out = new Float32Array(GH * cols);
        for (const [i, g] of back.entries()) out.set(m.subarray(g * H * cols, (g + 1) * H * cols), i * H * cols);
        return transpose(out, GH, cols);
      };
      const bias = (v: Float32Array) => {
        const out = new Float32Array(GH);
        for (const [i, g] of back.entries()) out.set(v.subarray(g * H, (g + 1) * H), i * H);
        return out;
      };
      units.push({ W_ih: blocks(w, inputs), W_hh: blocks(r, H), b_ih: bias(b.subarray(0, GH)), b_hh: bias(b.subarray(GH)) });
    }
    const stateOf = (k: number, c: boolean): boolean => {
      const name = names[k];
      if (!name) return false;
      const v = ins[k];
      const source = stateInputs.has(name) ? name : sliceSources.get(name);
      if (v?.kind !== 'data' || v.role.is !== 'state' || !source)
        throw refuse(file, `has ${where} whose initial ${c ? 'cell' : 'hidden'} state is not a graph input (or a slice of one).`);
      const slot = stateInputs.get(source)!;
      if (slot.c !== null && slot.c !== c)
        throw refuse(file, `has ${where} reading "${source}" as the ${c ? 'cell' : 'hidden'} state, which another node reads as the other.`);
      slot.c = c;
      const [from, to] = v.role.from === -1 ? [0, null] : [v.role.from, v.role.to];
      if (from !== layerIndex * D || (to !== null && to !== (layerIndex + 1) * D)) {
        throw refuse(
          file,
          `has ${where} (layer ${layerIndex}) starting from entries ${from}-${to ?? 'end'} of "${source}"; layer ${layerIndex} owns entries ${layerIndex * D}-${(layerIndex + 1) * D}.`,
        );
      }
      if (to === null) wholeStates.push({ source, where });
      return true;
    };
    const layer: Layer = {
      node: where,
      op,
      H,
      D,
      resetAfter: lbr === 1,
      inputs,
      units,
      h0: stateOf(5, false),
      c0: op === 'LSTM' ? stateOf(6, true) : false,
      index: layerIndex,
    };
    if (x.role.is === 'inputs' && x.role.table) layer.inputs = x.role.table.rows;
    layers.set(layerIndex, layer);
    const steps = x.axes[0]!;
    const batch = x.axes[1]!;
    set(0, {
      kind: 'data',
      role: { is: 'sequence', layer: layerIndex },
      axes: [steps, [{ id: `l${layerIndex}.directions`, size: D }], batch, [{ id: `l${layerIndex}.hidden`, size: H }]],
      float: true,
    });
    const state = (c: boolean): Value => ({
      kind: 'data',
      role: { is: 'hidden', layer: layerIndex, c },
      axes: [[{ id: `l${layerIndex}.directions`, size: D }], batch, [{ id: `l${layerIndex}.hidden`, size: H }]],
      float: true,
    });
    set(1, state(false));
    if (op === 'LSTM') set(2, state(true));
  }

  // --- the whole model ---
  const L = layers.size;
  if (L === 0) throw refuse(file, 'has no RNN, GRU or LSTM node: it is not a recurrent language model.');
  const all = [...layers.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
  const first = all[0]!;
  for (const l of all) {
    if (l.op !== first.op || l.H !== first.H || l.D !== first.D || l.resetAfter !== first.resetAfter)
      throw refuse(file, `has ${l.node} unlike ${first.node} (operator, hidden_size, direction or linear_before_reset): rnnkit's layers are all alike.`);
  }
  if (wholeStates.length > 0 && L > 1) {
    const s = wholeStates[0]!;
    throw refuse(file, `has ${s.where} reading all of "${s.source}" although the model has ${L} layers.`);
  }
  // rnnkit's models always start from a given state: every layer reads its share, or none does (zeros).
  for (const l of all) {
    if (l.h0 !== first.h0 || l.c0 !== first.c0)
      throw refuse(file, `has ${l.node} ${l.h0 ? 'reading' : 'not reading'} an initial state where ${first.node} ${first.h0 ? 'does' : 'does not'}.`);
  }
  if (l0MissingLstmState(first)) throw refuse(file, `has ${first.node} reading an initial hidden state but no cell state.`);
  const outputs: ImportedOnnx['outputs'] = { logits: '' };
  const LD = L * first.D;
  for (const o of graph.output ?? []) {
    const name = o.name ?? '';
    const t = o.type?.tensorType;
    if (t?.elemType !== 1) throw refuse(file, `declares its output "${name}" as ${typeName(t?.elemType)}; the logits and states are FLOAT.`);
    const declared = (t.shape?.dim ?? []).map((d) => (d.dimValue === undefined ? null : Number(d.dimValue)));
    const v = values.get(name);
    if (v?.kind === 'data' && v.role.is === 'logits') {
      if (outputs.logits) throw refuse(file, `has two logits outputs ("${outputs.logits}", "${name}").`);
      const last = declared.at(-1);
      if (declared.length !== v.axes.length || (last !== null && last !== undefined && last !== vocabSize))
        throw refuse(file, `declares its output "${name}" with the shape [${declared.map((d) => d ?? '?')}]; it computes ${describeAxes(v.axes)}.`);
      outputs.logits = name;
      if (headLayer !== L - 1) throw refuse(file, `computes its output "${name}" from layer ${headLayer}, not the last layer (${L - 1}).`);
      continue;
    }
    const stacked = v?.kind === 'data' && (v.role.is === 'stack' || v.role.is === 'hidden') ? v.role : null;
    if (stacked) {
      if (declared.length !== 3 || (declared[0] !== null && declared[0] !== LD) || (declared[2] !== null && declared[2] !== first.H))
        throw refuse(file, `declares its output "${name}" with the shape [${declared.map((d) => d ?? '?')}]; a state is [${LD}, batch, ${first.H}].`);
      const order = stacked.is === 'stack' ? stacked.layers : [stacked.layer];
      if (order.join() !== all.map((l) => l.index).join())
        throw refuse(file, `returns as "${name}" the final states of layers [${order}]; the model's state holds layers [${all.map((l) => l.index)}] in order.`);
      if (stacked.c) outputs.cn = name;
      else outputs.hn = name;
      continue;
    }
    throw refuse(file, `returns "${name}", which is neither the logits nor the final states of d2l's RNNModel.`);
  }
  if (!outputs.logits) throw refuse(file, "returns no logits: no output of the graph is the dense head over the last layer's outputs.");
  if (vocabSize === null) throw refuse(file, 'does not encode its tokens (no OneHot or Gather reads them).');
  for (const [name, slot] of stateInputs) {
    if (slot.c === null) throw refuse(file, `has an input "${name}" that no recurrent node reads as its initial state.`);
    const declared = (graph.input ?? []).find((i) => i.name === name)?.type?.tensorType?.shape?.dim ?? [];
    const [d0, , d2] = declared.map((d) => (d.dimValue === undefined ? null : Number(d.dimValue)));
    if ((d0 !== null && d0 !== LD) || (d2 !== null && d2 !== first.H))
      throw refuse(
        file,
        `declares its input "${name}" with the shape [${declared.map((d) => d.dimValue ?? d.dimParam ?? '?')}]; a state is [${LD}, batch, ${first.H}].`,
      );
    if (slot.c) inputs.c0 = name;
    else inputs.h0 = name;
  }
  // The head's product and bias.
  const logits = values.get(outputs.logits) as Extract<Value, { kind: 'data' }>;
  const head = logits.role as Extract<Role, { is: 'logits' }>;
  checkFinite(file, 'the weight of the dense head', head.W);
  checkFinite(file, 'the bias of the dense head', head.b);
  const V = vocabSize as number;
  const units = all.flatMap((l) => l.units);
  const table = embedding as { rows: number; cols: number; data: Float32Array } | null;
  if (table) {
    // x W_ih over table rows: fold the table into the first layer's input weights (vocab, G*H).
    const GH = GATES[CELL_OF_OP[first.op] as CellKind] * first.H;
    for (const u of units.slice(0, first.D)) {
      const folded = new Float32Array(table.rows * GH);
      for (let r = 0; r < table.rows; r++) {
        for (let k = 0; k < table.cols; k++) {
          const e = table.data[r * table.cols + k] as number;
          if (e === 0) continue;
          for (let j = 0; j < GH; j++) folded[r * GH + j] = (folded[r * GH + j] as number) + e * (u.W_ih[k * GH + j] as number);
        }
      }
      u.W_ih = folded;
    }
  }
  const metadata = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  let vocabTokens: unknown;
  if (metadata.has('rnnkit.vocab')) {
    try {
      vocabTokens = JSON.parse(metadata.get('rnnkit.vocab') as string);
    } catch {
      throw refuse(file, 'has an rnnkit.vocab metadata entry that is not JSON.');
    }
  }
  return {
    weights: {
      cell: CELL_OF_OP[first.op] as CellKind,
      resetAfter: first.op === 'GRU' ? first.resetAfter : true,
      vocabSize: V,
      numHiddens: first.H,
      numLayers: L,
      numDirections: first.D,
      units,
      W_out: head.W,
      b_out: head.b,
    },
    vocabTokens,
    inputs,
    outputs,
  };
}

const l0MissingLstmState = (l: Layer): boolean => l.op === 'LSTM' && l.h0 !== l.c0;

function constOf(t: TensorProto, file: string, what: string): Value {
  const { dims, float, ints } = tensorValues(t, file, what);
  return { kind: 'const', dims, float, ints };
}

/** AttributeProto.AttributeType of every attribute rnnkit reads, as the operators' schemas give them. */
const ATTRIBUTE_TYPES: Record<string, number> = {
  perm: 7,
  to: 2,
  saturate: 2,
  axis: 2,
  axes: 7,
  allowzero: 2,
  alpha: 1,
  beta: 1,
  transA: 2,
  transB: 2,
  hidden_size: 2,
  direction: 3,
  activations: 8,
  linear_before_reset: 2,
  layout: 2,
  input_forget: 2,
  value: 4,
  value_float: 1,
  value_floats: 6,
  value_int: 2,
  value_ints: 7,
};
/** Where each attribute type keeps its value. */
const ATTRIBUTE_FIELDS: Record<number, keyof AttributeProto> = { 1: 'f', 2: 'i', 3: 's', 4: 't', 6: 'floats', 7: 'ints', 8: 'strings' };

function attributes(n: NodeProto, file: string, where: string): Map<string, AttributeProto> {
  const out = new Map<string, AttributeProto>();
  for (const a of n.attribute ?? []) {
    const name = a.name ?? '';
    if (out.has(name)) throw refuse(file, `has ${where} with the attribute ${name} twice.`);
    if (a.g || (a.graphs?.length ?? 0) > 0) throw refuse(file, `has ${where} with a subgraph attribute (${name}); d2l's RNNModel has none.`);
    const want = ATTRIBUTE_TYPES[name];
    // An attribute rnnkit does not read is refused by its node's own check, naming it.
    if (want !== undefined) {
      if (a.type !== want) throw refuse(file, `has ${where} whose attribute ${name} is of type ${a.type ?? 'none'}; ONNX's schema makes it type ${want}.`);
      const field = ATTRIBUTE_FIELDS[want] as keyof AttributeProto;
      const held = a[field];
      if (held === undefined || (Array.isArray(held) && held.length === 0 && name !== 'perm'))
        throw refuse(file, `has ${where} whose attribute ${name} holds no value.`);
    }
    out.set(name, a);
  }
  return out;
}

/** Regroups the factors of `axes` (in memory order) into the target sizes; refuses what does not divide exactly. */
function reshape(axes: Axes, target: (Size | 'copy' | 'infer')[], file: string, where: string): Axes {
  const resolved = target.map((t, k) => (t === 'copy' ? (axes[k] ? sizeOfFactors(axes[k] as Factor[]) : null) : t));
  if (resolved.some((t) => t === null)) throw refuse(file, `has ${where} copying an axis (0) its input does not have.`);
  const factors = axes.flat();
  const total = sizeOfFactors(factors);
  const inferAt = resolved.indexOf('infer');
  if (resolved.filter((t) => t === 'infer').length > 1) throw refuse(file, `has ${where} with two -1 entries.`);
  if (inferAt >= 0) {
    const rest = resolved.filter((t): t is Size => t !== 'infer' && t !== null);
    const n = rest.reduce((a, s) => a * s.n, 1);
    const syms = [...total.syms];
    for (const s of rest) {
      for (const sym of s.syms) {
        const k = syms.indexOf(sym);
        if (k < 0) throw refuse(file, `has ${where} reshaping ${describeAxes(axes)} to sizes it does not hold.`);
        syms.splice(k, 1);
      }
    }
    if (n === 0 || total.n % n !== 0) throw refuse(file, `has ${where} reshaping ${describeAxes(axes)} to sizes it does not hold.`);
    resolved[inferAt] = { n: total.n / n, syms };
  }
  const out: Axes = [];
  let at = 0;
  for (const want of resolved as Size[]) {
    const group: Factor[] = [];
    while (at < factors.length && !sameSize(sizeOfFactors(group), want)) group.push(factors[at++] as Factor);
    // Size-1 factors right after a group stay with it.
    while (at < factors.length && factors[at]!.size === 1 && !(want.n === 1 && want.syms.length === 0 && group.length === 0))
      group.push(factors[at++] as Factor);
    if (!sameSize(sizeOfFactors(group), want)) throw refuse(file, `has ${where} reshaping ${describeAxes(axes)} along boundaries its axes do not have.`);
    out.push(group);
  }
  if (at < factors.length) {
    if (factors.slice(at).some((f) => f.size !== 1)) throw refuse(file, `has ${where} reshaping ${describeAxes(axes)} to fewer values.`);
    out.at(-1)?.push(...factors.slice(at));
  }
  return out;
}
