// ONNX's protobuf messages through protobufjs (light build, ONNX's own schema as JSON): encoding and
// decoding only, with TypeScript shapes for the fields rnnkit reads and writes.
import protobuf from 'protobufjs/light.js';
import { halfToFloat, refuse } from './errors.js';
import { ONNX_SCHEMA } from './onnx-schema.generated.js';

/** TensorProto.DataType values rnnkit meets. */
export const ONNX_TYPES = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;
const TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'UINT8',
  3: 'INT8',
  4: 'UINT16',
  5: 'INT16',
  6: 'INT32',
  7: 'INT64',
  8: 'STRING',
  9: 'BOOL',
  10: 'FLOAT16',
  11: 'DOUBLE',
  12: 'UINT32',
  13: 'UINT64',
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  16: 'BFLOAT16',
};
export const typeName = (t: number | undefined): string => TYPE_NAMES[t ?? 0] ?? `type ${t}`;

export interface TensorProto {
  dims?: number[];
  dataType?: number;
  name?: string;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  dataLocation?: number;
  externalData?: unknown[];
}

export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: unknown;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: unknown[];
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeProto[];
}

export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Dimension[] } } };
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparseInitializer?: unknown[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
}

export interface ModelProto {
  irVersion?: number;
  opsetImport?: { domain?: string; version?: number }[];
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: { key?: string; value?: string }[];
  functions?: unknown[];
}

let modelType: protobuf.Type | null = null;
function ModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace).lookupType('onnx.ModelProto');
  return modelType;
}

/** Encodes a model (plain objects, numbers for int64 fields). */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = ModelType();
  // A plain Uint8Array: in Node protobufjs gives a Buffer, whose slice() shares memory.
  return new Uint8Array(type.encode(type.fromObject(model as Record<string, unknown>)).finish());
}

/** Decodes a model; int64 fields become numbers, bytes Uint8Arrays. Damaged bytes are refused naming `file`. */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  const type = ModelType();
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (err) {
    throw refuse(file, `is not a readable ONNX model (protobuf: ${(err as Error).message}): the file is damaged or not ONNX.`);
  }
  return type.toObject(message, { longs: Number, bytes: Uint8Array as unknown as typeof String, enums: Number, defaults: false, arrays: true }) as ModelProto;
}

/** Whether the bytes may be an ONNX model: a protobuf starting with one of ModelProto's usual fields. */
export function looksLikeOnnx(bytes: Uint8Array): boolean {
  // ir_version (field 1, varint: 0x08) first, as every writer puts it; or opset_import / graph.
  return bytes.length > 2 && (bytes[0] === 0x08 || bytes[0] === 0x3a || bytes[0] === 0x42);
}

/** A float32 initializer. */
export function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i] as number, true);
  return { name, dims, dataType: ONNX_TYPES.FLOAT, rawData: raw };
}

/** An int64 initializer. */
export function int64Tensor(name: string, dims: number[], data: readonly number[]): TensorProto {
  return { name, dims, dataType: ONNX_TYPES.INT64, int64Data: [...data] };
}

/** A tensor's values: float32 for float types (float64 and float16 converted), numbers for integer types. */
export function tensorValues(t: TensorProto, file: string, what: string): { dims: number[]; float: Float32Array | null; ints: number[] | null } {
  const dims = (t.dims ?? []).map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw refuse(file, `gives ${what} the dimensions [${dims.join(', ')}].`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0)
    throw refuse(file, `keeps ${what} in an external data file; rnnkit reads models whose weights are inside the .onnx file.`);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const type = t.dataType ?? 0;
  const size = { [ONNX_TYPES.FLOAT]: 4, [ONNX_TYPES.DOUBLE]: 8, [ONNX_TYPES.FLOAT16]: 2, [ONNX_TYPES.INT64]: 8, [ONNX_TYPES.INT32]: 4 }[type];
  if (size === undefined) throw refuse(file, `stores ${what} as ${typeName(type)}; rnnkit reads FLOAT, DOUBLE, FLOAT16, INT64 and INT32 tensors.`);
  const fromField =
    type === ONNX_TYPES.FLOAT || type === ONNX_TYPES.FLOAT16
      ? type === ONNX_TYPES.FLOAT
        ? t.floatData
        : t.int32Data
      : type === ONNX_TYPES.DOUBLE
        ? t.doubleData
        : type === ONNX_TYPES.INT64
          ? t.int64Data
          : t.int32Data;
  const n = raw ? raw.length / size : (fromField?.length ?? 0);
  if (n !== count)
    throw refuse(
      file,
      `gives ${what} ${raw ? `${raw.length} bytes` : `${n} values`} for the dimensions [${dims.join(', ')}] (${count} values of ${typeName(type)}).`,
    );
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const at = (i: number): number => {
    if (!view) return Number((fromField as number[])[i]);
    if (type === ONNX_TYPES.FLOAT) return view.getFloat32(4 * i, true);
    if (type === ONNX_TYPES.DOUBLE) return view.getFloat64(8 * i, true);
    if (type === ONNX_TYPES.FLOAT16) return view.getUint16(2 * i, true);
    if (type === ONNX_TYPES.INT32) return view.getInt32(4 * i, true);
    return Number(view.getBigInt64(8 * i, true));
  };
  if (type === ONNX_TYPES.INT64 || type === ONNX_TYPES.INT32) return { dims, float: null, ints: Array.from({ length: count }, (_, i) => at(i)) };
  const float = new Float32Array(count);
  for (let i = 0; i < count; i++) float[i] = type === ONNX_TYPES.FLOAT16 ? halfToFloat(at(i)) : at(i);
  return { dims, float, ints: null };
}
