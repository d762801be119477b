// RecurrentWeights -> an ONNX language model on the standard RNN/GRU/LSTM operators.
import type { Vocab } from '@rnnkit/data';
import { GATES, type CellKind } from '@rnnkit/models/cell-kinds';
import type { NamedArray } from './errors.js';
import type { TranslationWeights } from './translation.js';
import { concatColumns, reorderGates, transpose, unitInputs, type RecurrentUnit, type RecurrentWeights } from './recurrent-weights.js';
import {
  ONNX_TYPES,
  encodeModel,
  floatTensor,
  int64Tensor,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

/** The opset the exports declare (RNN/GRU/LSTM as of opset 14, with the `layout` attribute). */
export const ONNX_OPSET = 14;
/** ONNX's IR version of the exports (that of ONNX 1.12). */
export const ONNX_IR_VERSION = 8;

/** ONNX's operator and its gate order as indices into PyTorch's: GRU z, r, h; LSTM i, o, f, c. */
export const ONNX_OPS: Record<CellKind, { op: 'RNN' | 'GRU' | 'LSTM'; order: readonly number[] }> = {
  rnn: { op: 'RNN', order: [0] },
  gru: { op: 'GRU', order: [1, 0, 2] },
  lstm: { op: 'LSTM', order: [0, 3, 1, 2] },
};

export interface OnnxExportOptions {
  /** Stored in the model's metadata (`rnnkit.vocab`, d2l's idx_to_token as JSON), so the file carries its vocabulary. */
  vocab?: Vocab;
  /** `producer_version` (the exporting tool's version). */
  producerVersion?: string;
  /** The model's `doc_string`. */
  docString?: string;
}

const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: 2, i }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: 7, ints }),
  string: (name: string, s: string): AttributeProto => ({ name, type: 3, s: new TextEncoder().encode(s) }),
};

function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** The nodes and initializers of a graph being built. */
interface GraphParts {
  nodes: NodeProto[];
  inits: TensorProto[];
  node(opType: string, input: string[], output: string[], name: string, attribute?: AttributeProto[]): void;
}

function graphParts(): GraphParts {
  const nodes: NodeProto[] = [];
  return {
    nodes,
    inits: [],
    node: (opType, input, output, name, attribute = []) => {
      nodes.push({ opType, input, output, name, attribute });
    },
  };
}

/**
 * One layer's weights as ONNX stacks its directions, in its gate order: `${p}.W` [D, G*H, in],
 * `${p}.R` [D, G*H, H], `${p}.B` [D, 2*G*H] (Wb then Rb), D the number of `units`.
 */
function gateWeights(g: GraphParts, p: string, cell: CellKind, units: readonly RecurrentUnit[], inputs: number, H: number): void {
  const { order } = ONNX_OPS[cell];
  const D = units.length;
  const GH = GATES[cell] * H;
  const W = new Float32Array(D * GH * inputs);
  const R = new Float32Array(D * GH * H);
  const B = new Float32Array(D * 2 * GH);
  units.forEach((u, d) => {
    W.set(transpose(reorderGates(u.W_ih, inputs, H, order), inputs, GH), d * GH * inputs);
    R.set(transpose(reorderGates(u.W_hh, H, H, order), H, GH), d * GH * H);
    B.set(concatColumns([reorderGates(u.b_ih, 1, H, order), reorderGates(u.b_hh, 1, H, order)], 1), d * 2 * GH);
  });
  g.inits.push(floatTensor(`${p}.W`, [D, GH, inputs], W), floatTensor(`${p}.R`, [D, GH, H], R), floatTensor(`${p}.B`, [D, 2 * GH], B));
}

/**
 * The standard RNN/GRU/LSTM node of layer `p` (its weights from `gateWeights`) on input `x` from
 * the states `initial` (none: zeros); `direction` is left out where not given (ONNX: forward).
 */
function recurrentNode(
  g: GraphParts,
  p: string,
  cell: CellKind,
  x: string,
  initial: string[],
  outputs: string[],
  options: { hidden: number; direction?: 'forward' | 'bidirectional'; linearBeforeReset: boolean },
): void {
  const { op } = ONNX_OPS[cell];
  const attributes = [attr.int('hidden_size', options.hidden)];
  if (options.direction) attributes.push(attr.string('direction', options.direction));
  if (cell === 'gru') attributes.push(attr.int('linear_before_reset', options.linearBeforeReset ? 1 : 0));
  g.node(op, [x, `${p}.W`, `${p}.R`, `${p}.B`, '', ...initial], outputs, `${p}/${op}`, attributes);
}

/**
 * The dense head on the time-major features `x` ([steps, batch, inputs]), MatMul + Add with
 * weights `${p}.W` (inputs, vocab) and `${p}.b`, then `logits` as [batch, steps, vocab].
 */
function denseHead(g: GraphParts, p: string, x: string, product: string, W: Float32Array, b: Float32Array, inputs: number, vocab: number): void {
  const name = p.replaceAll('.', '/');
  g.inits.push(floatTensor(`${p}.W`, [inputs, vocab], W), floatTensor(`${p}.b`, [vocab], b));
  g.node('MatMul', [x, `${p}.W`], [product], `${name}/MatMul`);
  g.node('Add', [product, `${p}.b`], ['logits.time_major'], `${name}/Add`);
  g.node('Transpose', ['logits.time_major'], ['logits'], 'logits/Transpose', [attr.ints('perm', [1, 0, 2])]);
}

/** An rnnkit export: the graph with the opset, producer and metadata every export declares. */
function encodeExport(graph: GraphProto, options: Omit<OnnxExportOptions, 'vocab'>, metadataProps: ModelProto['metadataProps'] = []): Uint8Array {
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'rnnkit',
    producerVersion: options.producerVersion ?? '',
    docString: options.docString ?? '',
    graph,
    metadataProps,
  });
}

/**
 * An ONNX model of a language model (opset 14): inputs `tokens` (int64 [batch, steps]) and `h0`
 * (float32 [layers * directions, batch, hidden]; plus `c0` for the LSTM), outputs `logits`
 * (float32 [batch, steps, vocab]) and `hn` (plus `cn`), batch and steps dynamic. Inside: the
 * tokens one-hot encoded (OneHot), one standard `RNN`/`GRU`/`LSTM` node per layer (GRU with
 * `linear_before_reset` 1 for PyTorch's reset-after GRU, 0 for d2l's reset-before one), the dense
 * head as MatMul + Add. ONNX Runtime computes rnnkit's logits with it.
 */
export function weightsToOnnx(w: RecurrentWeights, options: OnnxExportOptions = {}): Uint8Array {
  const H = w.numHiddens;
  const D = w.numDirections;
  const lstm = w.cell === 'lstm';
  const g = graphParts();
  const { nodes, inits, node } = g;
  inits.push(int64Tensor('onehot.depth', [], [w.vocabSize]), floatTensor('onehot.values', [2], Float32Array.of(0, 1)));
  node('Transpose', ['tokens'], ['tokens.time_major'], 'tokens/Transpose', [attr.ints('perm', [1, 0])]);
  node('OneHot', ['tokens.time_major', 'onehot.depth', 'onehot.values'], ['onehot'], 'onehot/OneHot', [attr.int('axis', -1)]);
  let x = 'onehot';
  const hs: string[] = [];
  const cs: string[] = [];
  for (let l = 0; l < w.numLayers; l++) {
    const p = `rnn.l${l}`;
    gateWeights(g, p, w.cell, w.units.slice(l * D, (l + 1) * D), unitInputs(w, l), H);
    let h0 = 'h0';
    let c0 = 'c0';
    if (w.numLayers > 1) {
      inits.push(int64Tensor(`${p}.state_start`, [1], [l * D]), int64Tensor(`${p}.state_end`, [1], [(l + 1) * D]));
      inits.push(int64Tensor(`${p}.state_axes`, [1], [0]));
      h0 = `${p}.h0`;
      node('Slice', ['h0', `${p}.state_start`, `${p}.state_end`, `${p}.state_axes`], [h0], `${p}/Slice_h0`);
      if (lstm) {
        c0 = `${p}.c0`;
        node('Slice', ['c0', `${p}.state_start`, `${p}.state_end`, `${p}.state_axes`], [c0], `${p}/Slice_c0`);
      }
    }
    const single = w.numLayers === 1;
    const outputs = [`${p}.Y`, single ? 'hn' : `${p}.Y_h`, ...(lstm ? [single ? 'cn' : `${p}.Y_c`] : [])];
    const direction = D === 2 ? 'bidirectional' : 'forward';
    recurrentNode(g, p, w.cell, x, [h0, ...(lstm ? [c0] : [])], outputs, { hidden: H, direction, linearBeforeReset: w.resetAfter });
    hs.push(outputs[1] as string);
    if (lstm) cs.push(outputs[2] as string);
    // Y [steps, D, batch, H] -> [steps, batch, D * H], the directions side by side as PyTorch's.
    node('Transpose', [`${p}.Y`], [`${p}.Y_t`], `${p}/Transpose`, [attr.ints('perm', [0, 2, 1, 3])]);
    if (l === 0) inits.push(int64Tensor('rnn.features', [3], [0, 0, -1]));
    node('Reshape', [`${p}.Y_t`, 'rnn.features'], [`${p}.out`], `${p}/Reshape`);
    x = `${p}.out`;
  }
  if (w.numLayers > 1) {
    node('Concat', hs, ['hn'], 'hn/Concat', [attr.int('axis', 0)]);
    if (lstm) node('Concat', cs, ['cn'], 'cn/Concat', [attr.int('axis', 0)]);
  }
  denseHead(g, 'linear', x, 'linear.xW', w.W_out, w.b_out, D * H, w.vocabSize);

  const state = [D * w.numLayers, 'batch', H];
  return encodeExport(
    {
      name: 'rnnkit_language_model',
      node: nodes,
      initializer: inits,
      input: [
        valueInfo('tokens', ONNX_TYPES.INT64, ['batch', 'steps']),
        valueInfo('h0', ONNX_TYPES.FLOAT, state),
        ...(lstm ? [valueInfo('c0', ONNX_TYPES.FLOAT, state)] : []),
      ],
      output: [
        valueInfo('logits', ONNX_TYPES.FLOAT, ['batch', 'steps', w.vocabSize]),
        valueInfo('hn', ONNX_TYPES.FLOAT, state),
        ...(lstm ? [valueInfo('cn', ONNX_TYPES.FLOAT, state)] : []),
      ],
    },
    options,
    options.vocab ? [{ key: 'rnnkit.vocab', value: JSON.stringify(options.vocab.idxToToken) }] : [],
  );
}

/**
 * An ONNX model of d2l's encoder-decoder (`EncoderDecoder`; opset 14), teacher-forced: inputs
 * `src` (int64 [batch, src_steps]) and `tgt` (int64 [batch, tgt_steps]: `<bos>` then the target
 * shifted right, or the tokens decoded so far), outputs `logits` (float32 [batch, tgt_steps,
 * tgt_vocab]) and the decoder's final `hn` (plus `cn` for the LSTM), batch and steps dynamic. The
 * embeddings are Gather nodes, the encoder and decoder standard recurrent nodes (the decoder starts
 * from the encoder's final states), the context (the encoder's last top-layer output) is expanded
 * over the target steps and joined to each decoder input, as in d2l 9.7.
 */
export function translationWeightsToOnnx(t: TranslationWeights, options: Omit<OnnxExportOptions, 'vocab'> = {}): Uint8Array {
  const { cell, numHiddens: H, numLayers: L, embedSize: E, tgtVocabSize: Vt } = t.options;
  const lstm = cell === 'lstm';
  const v = (name: string): NamedArray => {
    const a = t.variables[name];
    if (!a) throw new Error(`The encoder-decoder has no variable ${name}.`);
    return a;
  };
  const g = graphParts();
  const { nodes, inits, node } = g;
  inits.push(int64Tensor('axis0', [1], [0]), int64Tensor('axis1', [1], [1]), int64Tensor('one', [1], [1]), int64Tensor('ones2', [2], [1, 1]));
  const stack = (part: 'encoder' | 'decoder', x0: string, inputs0: number, initial: (l: number) => string[]) => {
    let x = x0;
    const hs: string[] = [];
    const cs: string[] = [];
    for (let l = 0; l < L; l++) {
      const inputs = l === 0 ? inputs0 : H;
      const p = `${part}.l${l}`;
      const unit = {
        W_ih: v(`${part}.W_ih_l${l}`).data,
        W_hh: v(`${part}.W_hh_l${l}`).data,
        b_ih: v(`${part}.b_ih_l${l}`).data,
        b_hh: v(`${part}.b_hh_l${l}`).data,
      };
      gateWeights(g, p, cell, [unit], inputs, H);
      const outs = [`${p}.Y`, `${p}.Y_h`, ...(lstm ? [`${p}.Y_c`] : [])];
      // d2l's translation GRU is PyTorch's nn.GRU: reset after.
      recurrentNode(g, p, cell, x, initial(l), outs, { hidden: H, linearBeforeReset: true });
      hs.push(`${p}.Y_h`);
      if (lstm) cs.push(`${p}.Y_c`);
      node('Squeeze', [`${p}.Y`, 'axis1'], [`${p}.out`], `${p}/Squeeze`);
      x = `${p}.out`;
    }
    return { out: x, hs, cs };
  };
  // Encoder: embedding, then the stack from zeros.
  inits.push(floatTensor('encoder.embedding', v('encoder.embedding').shape, v('encoder.embedding').data));
  node('Transpose', ['src'], ['src.time_major'], 'src/Transpose', [attr.ints('perm', [1, 0])]);
  node('Gather', ['encoder.embedding', 'src.time_major'], ['encoder.x'], 'encoder/embedding', [attr.int('axis', 0)]);
  const enc = stack('encoder', 'encoder.x', E, () => []);
  // Decoder: embedding joined with the context over every target step, the stack from the encoder's states.
  inits.push(floatTensor('decoder.embedding', v('decoder.embedding').shape, v('decoder.embedding').data));
  node('Transpose', ['tgt'], ['tgt.time_major'], 'tgt/Transpose', [attr.ints('perm', [1, 0])]);
  node('Gather', ['decoder.embedding', 'tgt.time_major'], ['decoder.emb'], 'decoder/embedding', [attr.int('axis', 0)]);
  node('Shape', ['tgt.time_major'], ['tgt.shape'], 'tgt/Shape');
  node('Slice', ['tgt.shape', 'axis0', 'one', 'axis0'], ['tgt.steps'], 'tgt/steps');
  node('Concat', ['tgt.steps', 'ones2'], ['context.repeat'], 'context/shape', [attr.int('axis', 0)]);
  node('Expand', [enc.hs[L - 1] as string, 'context.repeat'], ['context'], 'context/Expand');
  node('Concat', ['decoder.emb', 'context'], ['decoder.x'], 'decoder/Concat', [attr.int('axis', 2)]);
  const dec = stack('decoder', 'decoder.x', E + H, (l) => [enc.hs[l] as string, ...(lstm ? [enc.cs[l] as string] : [])]);
  node('Concat', dec.hs, ['hn'], 'hn/Concat', [attr.int('axis', 0)]);
  if (lstm) node('Concat', dec.cs, ['cn'], 'cn/Concat', [attr.int('axis', 0)]);
  denseHead(g, 'decoder.dense', dec.out, 'decoder.xW', v('decoder.W_out').data, v('decoder.b_out').data, H, Vt);
  const state = [L, 'batch', H];
  return encodeExport(
    {
      name: 'rnnkit_encoder_decoder',
      node: nodes,
      initializer: inits,
      input: [valueInfo('src', ONNX_TYPES.INT64, ['batch', 'src_steps']), valueInfo('tgt', ONNX_TYPES.INT64, ['batch', 'tgt_steps'])],
      output: [
        valueInfo('logits', ONNX_TYPES.FLOAT, ['batch', 'tgt_steps', Vt]),
        valueInfo('hn', ONNX_TYPES.FLOAT, state),
        ...(lstm ? [valueInfo('cn', ONNX_TYPES.FLOAT, state)] : []),
      ],
    },
    options,
  );
}
