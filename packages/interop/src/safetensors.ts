// safetensors (the format of `safetensors.torch.save_file`): an 8-byte little-endian header
// length N, N bytes of JSON ({ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__ }),
// then the tensors' raw little-endian bytes, offsets relative to the end of the header.
import { InteropError, checkFinite, halfToFloat, refuse, sizeOf, type NamedArray } from './errors.js';

/** The dtypes read: float32 as is, float64 and float16 converted to float32. */
const READ_DTYPES = { F32: 4, F64: 8, F16: 2 } as const;
type ReadDtype = keyof typeof READ_DTYPES;
/** Other dtypes of the format, named in refusals. */
const OTHER_DTYPES = ['BF16', 'F8_E4M3', 'F8_E5M2', 'I8', 'I16', 'I32', 'I64', 'U8', 'U16', 'U32', 'U64', 'BOOL'];
/** The reference implementation's cap: a larger header is refused before it is read. */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

/** What `readSafetensors` gives: float32 tensors by name, the dtype each had in the file, and `__metadata__`. */
export interface SafetensorsContents {
  tensors: Record<string, NamedArray>;
  dtypes: Record<string, ReadDtype>;
  metadata: Record<string, string>;
}

/** Whether the bytes start like a safetensors file (a plausible header length, then `{`). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads a safetensors file, strictly: the header length against the file's size (never more than
 * the bytes there are, never past 100 MB), the JSON header, each entry's keys, dtype, shape and
 * offsets (inside the data, not overlapping, covering it without holes, exactly shape's bytes),
 * then the values (finite only). F64 and F16 become float32; other dtypes are refused. Every
 * refusal is an `InteropError` whose message starts with `file` and names the tensor.
 */
export function readSafetensors(bytes: Uint8Array, file = 'the safetensors file'): SafetensorsContents {
  if (bytes.length < 8) throw refuse(file, `is ${bytes.length} bytes long: a safetensors file starts with an 8-byte header length.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (declared > BigInt(MAX_SAFETENSORS_HEADER))
    throw refuse(
      file,
      `declares a header of ${declared} bytes, more than safetensors allows (${MAX_SAFETENSORS_HEADER}): the file is damaged or not safetensors.`,
    );
  const headerLength = Number(declared);
  if (headerLength > available)
    throw refuse(file, `declares a header of ${headerLength} bytes but only ${available} bytes follow the length: the file is truncated or not safetensors.`);
  if (headerLength < 2) throw refuse(file, `declares a header of ${headerLength} bytes: too short for the JSON header.`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw refuse(file, `has a header that is not valid UTF-8 JSON (${(err as Error).message}): the file is damaged or not safetensors.`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw refuse(file, 'has a header that is not a JSON object.');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: ReadDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw refuse(file, 'has a __metadata__ that is not an object of strings.');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw refuse(file, `has a __metadata__ entry "${k}" that is not a string.`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw refuse(file, `describes ${what} with something that is not an object.`);
    const entry = raw as Record<string, unknown>;
    const keys = Object.keys(entry).sort().join(',');
    if (keys !== 'data_offsets,dtype,shape') throw refuse(file, `describes ${what} with the keys [${keys}]; safetensors gives dtype, shape and data_offsets.`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !Object.hasOwn(READ_DTYPES, dtype)) {
      const known = typeof dtype === 'string' && OTHER_DTYPES.includes(dtype);
      throw refuse(
        file,
        `stores ${what} as ${JSON.stringify(dtype)}${known ? '' : ' (not a safetensors dtype)'}: rnnkit reads F32, F64 and F16 weights (save them with .float()).`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isIndex))
      throw refuse(file, `gives ${what} the shape ${JSON.stringify(shape)}: dimensions must be non-negative integers.`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex))
      throw refuse(file, `gives ${what} the data_offsets ${JSON.stringify(offsets)}: expected [begin, end], two non-negative integers.`);
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw refuse(file, `gives ${what} the data_offsets [${begin}, ${end}]: begin is after end.`);
    if (end > dataLength)
      throw refuse(file, `gives ${what} bytes ${begin}-${end} of the data, which holds ${dataLength} bytes: the file is truncated or damaged.`);
    const need = sizeOf(shape) * READ_DTYPES[dtype as ReadDtype];
    if (end - begin !== need) throw refuse(file, `gives ${what} (${dtype}, shape [${shape.join(', ')}]) ${end - begin} bytes; that shape needs ${need}.`);
    entries.push({ name, dtype: dtype as ReadDtype, shape: shape as number[], begin, end });
  }
  // The data must be covered exactly once, as the reference implementation requires.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of byOffset) {
    if (e.begin < covered)
      throw refuse(file, `gives tensor "${e.name}" bytes ${e.begin}-${e.end}, which overlap the tensor before it (which ends at ${covered}).`);
    if (e.begin > covered) throw refuse(file, `leaves bytes ${covered}-${e.begin} of the data unused before tensor "${e.name}": the offsets are damaged.`);
    covered = e.end;
  }
  if (covered !== dataLength) throw refuse(file, `has ${dataLength - covered} bytes after its last tensor: the offsets or the file are damaged.`);

  const tensors: Record<string, NamedArray> = {};
  const dtypes: Record<string, ReadDtype> = {};
  for (const e of entries) {
    const n = sizeOf(e.shape);
    const data = new Float32Array(n);
    const at = dataStart + e.begin;
    if (e.dtype === 'F32') for (let i = 0; i < n; i++) data[i] = view.getFloat32(at + 4 * i, true);
    else if (e.dtype === 'F64') {
      for (let i = 0; i < n; i++) {
        const v = view.getFloat64(at + 8 * i, true);
        data[i] = v;
        if (Number.isFinite(v) && !Number.isFinite(data[i] as number)) throw refuse(file, `holds ${v} in tensor "${e.name}" (F64), beyond float32's range.`);
      }
    } else for (let i = 0; i < n; i++) data[i] = halfToFloat(view.getUint16(at + 2 * i, true));
    checkFinite(file, `tensor "${e.name}"`, data);
    tensors[e.name] = { shape: e.shape, data };
    dtypes[e.name] = e.dtype;
  }
  return { tensors, dtypes, metadata };
}

/**
 * Writes float32 tensors as a safetensors file (`safetensors.torch.load_file` reads it): the
 * entries in the given order, the header padded with spaces to a multiple of 8 bytes.
 */
export function writeSafetensors(tensors: Record<string, NamedArray>, metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new InteropError(name, 'A tensor cannot be called __metadata__ in safetensors.');
    if (t.data.length !== sizeOf(t.shape)) throw new InteropError(name, `Tensor ${name} has ${t.data.length} values for the shape [${t.shape.join(', ')}].`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * t.data.length] };
    offset += 4 * t.data.length;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(raw.length + ((8 - (raw.length % 8)) % 8)).fill(0x20); // spaces
  head.set(raw);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i] as number, true);
    at += 4 * t.data.length;
  }
  return out;
}
