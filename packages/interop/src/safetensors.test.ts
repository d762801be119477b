import { describe, expect, it } from 'vitest';
import { InteropError, MAX_SAFETENSORS_HEADER, looksLikeSafetensors, readSafetensors, weightsFromTorch, writeSafetensors } from './index.js';

/** A safetensors file from a header object and a data region, as a damaged writer might make it. */
function file(header: Record<string, unknown>, data: Uint8Array, declared?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const f32 = (...values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const refusal = (bytes: Uint8Array) => {
  try {
    readSafetensors(bytes, 'w.safetensors');
  } catch (err) {
    expect(err).toBeInstanceOf(InteropError);
    expect((err as InteropError).file).toBe('w.safetensors');
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('readSafetensors', () => {
  it('reads what writeSafetensors writes (header padded to 8 bytes) and what a hand-made file holds', () => {
    const bytes = writeSafetensors({ a: { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, b: { shape: [1], data: Float32Array.of(-0.5) } });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    expect(looksLikeSafetensors(bytes)).toBe(true);
    const { tensors, dtypes, metadata } = readSafetensors(bytes);
    expect(tensors.a).toEqual({ shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) });
    expect(tensors.b!.data[0]).toBe(-0.5);
    expect(dtypes).toEqual({ a: 'F32', b: 'F32' });
    expect(metadata).toEqual({ format: 'pt' });
  });

  it('converts F64 and F16 to float32', () => {
    const f64 = new Uint8Array(Float64Array.of(0.1, -3).buffer);
    const f16 = new Uint8Array(Uint16Array.of(0x3c00, 0xc000, 0x3555, 0x0001).buffer); // 1, -2, 0.333..., the smallest subnormal
    const bytes = file(
      { x: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, y: { dtype: 'F16', shape: [4], data_offsets: [16, 24] } },
      new Uint8Array([...f64, ...f16]),
    );
    const { tensors, dtypes } = readSafetensors(bytes);
    expect(Array.from(tensors.x!.data)).toEqual([Math.fround(0.1), -3]);
    expect(Array.from(tensors.y!.data)).toEqual([1, -2, Math.fround(0.333251953125), Math.fround(2 ** -24)]);
    expect(dtypes).toEqual({ x: 'F64', y: 'F16' });
  });

  it('refuses every kind of damage, naming the file and the tensor', () => {
    const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    expect(refusal(new Uint8Array(5))).toMatch(/^w\.safetensors: is 5 bytes long/);
    expect(refusal(file(ok, f32(1, 2), 10_000n))).toMatch(/^w\.safetensors: declares a header of 10000 bytes but only \d+ bytes follow/);
    expect(refusal(file(ok, f32(1, 2), 2n ** 62n))).toMatch(/more than safetensors allows \(100000000\)/);
    expect(refusal(file(ok, f32(1, 2), BigInt(MAX_SAFETENSORS_HEADER + 1)))).toMatch(/more than safetensors allows/);
    const broken = file(ok, f32(1, 2));
    broken[12] = 0xff;
    expect(refusal(broken)).toMatch(/header that is not valid UTF-8 JSON/);
    expect(refusal(file({ w: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, f32(1)))).toMatch(
      /stores tensor "w" as "BF16": rnnkit reads F32, F64 and F16/,
    );
    expect(refusal(file({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, f32(1, 2)))).toMatch(/tensor "w" as "I64"/);
    expect(refusal(file({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, f32(1)))).toMatch(/"Q4" \(not a safetensors dtype\)/);
    expect(refusal(file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)))).toMatch(
      /gives tensor "w" \(F32, shape \[3\]\) 8 bytes; that shape needs 12/,
    );
    expect(refusal(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, f32(1, 2)))).toMatch(
      /gives tensor "w" bytes 0-12 of the data, which holds 8 bytes/,
    );
    expect(refusal(file({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, f32(1, 2)))).toMatch(/begin is after end/);
    expect(refusal(file({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, f32(1, 2)))).toMatch(/gives tensor "w" the shape \[-2\]/);
    expect(refusal(file({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8], extra: 1 } }, f32(1, 2)))).toMatch(
      /with the keys \[data_offsets,dtype,extra,shape\]/,
    );
    const overlap = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expect(refusal(file(overlap, f32(1, 2, 3)))).toMatch(/gives tensor "b" bytes 4-12, which overlap the tensor before it/);
    const hole = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expect(refusal(file(hole, f32(1, 2, 3)))).toMatch(/leaves bytes 4-8 of the data unused before tensor "b"/);
    expect(refusal(file(ok, f32(1, 2, 3)))).toMatch(/has 4 bytes after its last tensor/);
    expect(refusal(file(ok, f32(1, Number.NaN)))).toMatch(/tensor "w" holds NaN at flat index 1/);
    expect(refusal(file(ok, f32(Number.POSITIVE_INFINITY, 1)))).toMatch(/tensor "w" holds Infinity at flat index 0/);
    const big = new Uint8Array(Float64Array.of(1e300).buffer);
    expect(refusal(file({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, big))).toMatch(
      /holds 1e\+300 in tensor "w" \(F64\), beyond float32's range/,
    );
    expect(refusal(file({ __metadata__: { a: 1 }, ...ok }, f32(1, 2)))).toMatch(/__metadata__ entry "a" that is not a string/);
    expect(refusal(file([] as unknown as Record<string, unknown>, f32()))).toMatch(/header that is not a JSON object/);
  });

  it('refuses missing, extra and misshapen tensors and a vocabulary of another size', () => {
    const H = 2;
    const V = 3;
    const t = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    const concise = () => ({
      'rnn.weight_ih_l0': t([H, V]),
      'rnn.weight_hh_l0': t([H, H]),
      'rnn.bias_ih_l0': t([H]),
      'rnn.bias_hh_l0': t([H]),
      'linear.weight': t([V, H]),
      'linear.bias': t([V]),
    });
    expect(weightsFromTorch(concise(), { file: 'm' }).cell).toBe('rnn');
    const missing: Record<string, ReturnType<typeof t>> = concise();
    delete missing['rnn.bias_hh_l0'];
    expect(() => weightsFromTorch(missing, { file: 'm' })).toThrow(
      /^m: has no tensor "rnn\.bias_hh_l0", which d2l's RNNModel \(RNN, 1 layer\(s\), 1 direction\(s\), hidden 2, vocabulary 3\) needs \(shape \[2\]\)/,
    );
    expect(() => weightsFromTorch({ ...concise(), 'rnn.weight_hr_l0': t([1, 1]) }, { file: 'm' })).toThrow(
      /^m: has a tensor "rnn\.weight_hr_l0" that d2l's RNNModel/,
    );
    expect(() => weightsFromTorch({ ...concise(), 'linear.bias': t([4]) }, { file: 'm' })).toThrow(/^m: gives "linear\.bias" the shape \[4\]; .* needs \[3\]/);
    expect(() => weightsFromTorch({ ...concise(), 'rnn.weight_hh_l0': t([5, 2]) }, { file: 'm' })).toThrow(/5 rows is not 1, 3 or 4 times the hidden size 2/);
    expect(() => weightsFromTorch(concise(), { file: 'm', vocabSize: 28 })).toThrow(
      /^m: has an output layer \(linear\.weight \[3, 2\]\) for 3 tokens, but the vocabulary has 28/,
    );
    expect(() => weightsFromTorch({ foo: t([1]) }, { file: 'm' })).toThrow(/^m: is not a state dict of d2l's RNNModel .* it has foo/);
    const scratch = { W_xh: t([V, H]), W_hh: t([H, H]), b_h: t([H]), W_hq: t([H, V]), b_q: t([V]) };
    expect(weightsFromTorch(scratch, { file: 's' }).cell).toBe('rnn');
    expect(() => weightsFromTorch({ ...scratch, W_hh: t([H, 3]) }, { file: 's' })).toThrow(
      /^s: gives "W_hh" the shape \[2, 3\]; d2l's scratch RNN \(hidden 2, vocabulary 3\) needs \[2, 2\]/,
    );
  });
});
