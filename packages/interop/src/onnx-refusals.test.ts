import { describe, expect, it } from 'vitest';
import { fixtureBytes } from '../test/fixtures.js';
import { InteropError, readSafetensors, translationFromTorch } from './index.js';
import { onnxToWeights, translationWeightsToOnnx } from './onnx.js';
import { decodeModel, encodeModel, type AttributeProto, type ModelProto, type NodeProto } from './onnx-proto.js';

// Graphs that are not d2l's RNNModel, or that an exporter wrote with settings rnnkit's models do not
// have: each refused with a message naming the file and the node, operator, attribute or input.
const torchGraph = (name: string): ModelProto => decodeModel(fixtureBytes(`${name}.onnx`), name);
const nodes = (m: ModelProto) => m.graph!.node!;
const find = (m: ModelProto, op: string, k = 0): NodeProto => nodes(m).filter((n) => n.opType === op)[k]!;
const text = (s: string) => new TextEncoder().encode(s);
const refusal = (m: ModelProto): string => {
  try {
    onnxToWeights(encodeModel(m), { file: 'bad.onnx' });
  } catch (err) {
    expect(err).toBeInstanceOf(InteropError);
    expect((err as Error).message.startsWith('bad.onnx: ')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('accepted');
};
const withAttr = (n: NodeProto, a: AttributeProto) => {
  n.attribute = [...(n.attribute ?? []).filter((x) => x.name !== a.name), a];
};

describe('ONNX graphs rnnkit refuses', () => {
  it("rnnkit's own encoder-decoder export, pointing at safetensors", () => {
    const t = translationFromTorch(readSafetensors(fixtureBytes('encoder_decoder.safetensors'), 'encoder_decoder').tensors);
    expect(refusal(decodeModel(translationWeightsToOnnx(t), 'nmt'))).toMatch(
      /has two integer inputs \("src", "tgt"\); d2l's RNNModel takes one, the tokens\. \(An encoder-decoder, as rnnkit export writes it\? rnnkit imports those from safetensors: export with --format safetensors\.\)$/,
    );
  });

  it("an operator outside d2l's RNNModel, named with its node", () => {
    const m = torchGraph('gru');
    const head = find(m, 'Gemm');
    nodes(m).push({ opType: 'Relu', name: '/act/Relu', input: [head.output![0]!], output: ['relu_out'] });
    expect(refusal(m)).toMatch(/node "\/act\/Relu" \(Relu\): the operator Relu is not in d2l's RNNModel/);
  });

  it('the clip attribute, non-default activations, reverse direction, layout 1, input_forget', () => {
    const clip = torchGraph('lstm');
    withAttr(find(clip, 'LSTM'), { name: 'clip', type: 1, f: 3 });
    expect(refusal(clip)).toMatch(/node "\/rnn\/LSTM" \(LSTM\) with the attribute clip, which rnnkit's LSTM does not have/);
    const act = torchGraph('gru');
    withAttr(find(act, 'GRU'), { name: 'activations', type: 8, strings: [text('Sigmoid'), text('Relu')] });
    expect(refusal(act)).toMatch(/with the activations \[sigmoid, relu\]; rnnkit's GRU uses \[sigmoid, tanh\]/);
    const rev = torchGraph('rnn');
    withAttr(find(rev, 'RNN'), { name: 'direction', type: 3, s: text('reverse') });
    expect(refusal(rev)).toMatch(/with direction "reverse"/);
    const layout = torchGraph('rnn');
    withAttr(find(layout, 'RNN'), { name: 'layout', type: 2, i: 1 });
    expect(refusal(layout)).toMatch(/with layout 1 \(batch first\)/);
    const forget = torchGraph('lstm');
    withAttr(find(forget, 'LSTM'), { name: 'input_forget', type: 2, i: 1 });
    expect(refusal(forget)).toMatch(/input_forget 1/);
  });

  it('sequence lengths, a state slice fed to the wrong layer, a head on the first layer', () => {
    const lens = torchGraph('gru');
    lens.graph!.initializer!.push({ name: 'lens', dims: [2], dataType: 6, int32Data: [3, 3] });
    find(lens, 'GRU').input![4] = 'lens';
    expect(refusal(lens)).toMatch(/with sequence_lens "lens"/);
    const swapped = torchGraph('lstm_2layer');
    // The second layer starts from the first layer's share of h0.
    find(swapped, 'LSTM', 1).input![5] = find(swapped, 'LSTM', 0).input![5]!;
    expect(refusal(swapped)).toMatch(/\(layer 1\) starting from entries 0-1 of "h0"; layer 1 owns entries 1-2/);
    const head = torchGraph('gru_2layer');
    const gemm = find(head, 'Gemm');
    // Feed the head the first layer's (squeezed, reshaped) outputs instead of the last layer's.
    const firstSqueeze = nodes(head).find((n) => n.opType === 'Squeeze')!;
    const reshape = nodes(head).find((n) => n.output?.[0] === gemm.input![0])!;
    reshape.input![0] = firstSqueeze.output![0]!;
    expect(refusal(head)).toMatch(/from layer 0, not the last layer \(1\)|reshaping/);
  });

  it('axes the operators would misread: tokens fed batch-first', () => {
    const m = torchGraph('rnn');
    const t = find(m, 'Transpose');
    t.attribute = [{ name: 'perm', type: 7, ints: [0, 1] }];
    expect(refusal(m)).toMatch(/reading X as \[batch, steps, vocab\]; it must be \[steps, batch, vocab\]/);
  });

  it('weights of the wrong shape, NaN weights, a one-hot of another depth than the head', () => {
    const shape = torchGraph('gru');
    const W = shape.graph!.initializer!.find((t) => t.dims?.length === 3 && t.dims[2] === 14)!;
    W.dims = [1, 48, 7];
    expect(refusal(shape)).toMatch(/whose W has the shape \[1,48,7\]; hidden_size 8 and its input need \[1,24,14\]/);
    W.dims = [1, 24, 7];
    expect(refusal(shape)).toMatch(/gives the initializer "onnx::GRU_\d+" 1344 bytes for the dimensions \[1, 24, 7\] \(168 values of FLOAT\)/);
    const nan = torchGraph('gru');
    const bias = nan.graph!.initializer!.find((t) => t.name === 'linear.bias')!;
    new DataView(bias.rawData!.buffer, bias.rawData!.byteOffset).setFloat32(0, Number.NaN, true);
    expect(refusal(nan)).toMatch(/holds NaN/);
    expect(() => onnxToWeights(fixtureBytes('gru.onnx'), { file: 'bad.onnx', vocabSize: 28 })).toThrow(
      /^bad\.onnx: has node .* for 14 tokens, but the vocabulary has 28/,
    );
  });

  it('bytes that are not ONNX', () => {
    expect(() => onnxToWeights(fixtureBytes('gru.safetensors'), { file: 'bad.onnx' })).toThrow(/^bad\.onnx: /);
    expect(() => onnxToWeights(new Uint8Array([0x08, 0x07]), { file: 'bad.onnx' })).toThrow(/^bad\.onnx: has no graph/);
  });
});
