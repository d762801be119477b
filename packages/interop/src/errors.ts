/** A file that cannot be imported or a model that cannot be exported; the message names the file and what is wrong. */
export class InteropError extends Error {
  constructor(
    /** The file (path, URL or name) at fault. */
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'InteropError';
  }
}

/** `${file}: ${problem}` as an InteropError. */
export const refuse = (file: string, problem: string): InteropError => new InteropError(file, `${file}: ${problem}`);

/** A float32 tensor in row-major order, as safetensors and ONNX store them. */
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Refuses NaN and infinities: `where` names the tensor. */
export function checkFinite(file: string, where: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!Number.isFinite(v)) throw refuse(file, `${where} holds ${v} at flat index ${i}: weights must be finite numbers.`);
  }
}

/** IEEE 754 half precision (the bits of a float16) to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
