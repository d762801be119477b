/** The smallest module that uses a relaxed-SIMD instruction (one f32x4.relaxed_madd). */
// biome-ignore format: one row per module section
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128, v128, v128) -> v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b, // relaxed_madd(a, b, c)
]);

/** Whether this engine compiles WebAssembly relaxed SIMD now (what the kernels check before picking their build). */
export function hasRelaxedSimd(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_PROBE);
}

interface V8Flags {
  setFlagsFromString(flags: string): void;
}

/**
 * Turns on WebAssembly relaxed SIMD where the engine has it behind a flag (Node 20: V8's
 * `--experimental-wasm-relaxed-simd`), so the kernels pick their fused multiply-add build, about
 * 1.4x faster. Call it before the first model runs (the kernels compile on first use); the
 * `@rnnkit/cells/relaxed-simd` entry does it on import. Engines without relaxed SIMD, and
 * browsers, are left as they are: the kernels then keep the plain SIMD build. Returns whether
 * relaxed SIMD is on.
 */
export function enableRelaxedSimd(): boolean {
  if (hasRelaxedSimd()) return true;
  const node = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  // process.getBuiltinModule (Node >= 20.16) reads node:v8 without an import a browser bundle would trip on.
  const v8 = node?.getBuiltinModule?.('node:v8') as V8Flags | undefined;
  if (!v8) return false;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return hasRelaxedSimd();
}
