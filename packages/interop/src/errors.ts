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
