import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keepNodeErrorReporting } from './node-errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const tsx = join(root, 'node_modules/.bin/tsx');
const scratch = mkdtempSync(join(tmpdir(), 'rnnkit-node-errors-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A user's script run with tsx, which loads the wasm backend's minified build (a ~40 KB line).
function runScript(body: string): { status: number | null; stderr: string } {
  const file = join(here, `.node-errors-${process.pid}-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(
    file,
    `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from './index.js';
await tf.setBackend('wasm');
${body}
`,
  );
  try {
    const r = spawnSync(tsx, [file], { encoding: 'utf8', cwd: scratch, timeout: 60_000 });
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}

describe('keepNodeErrorReporting', () => {
  it('without it, the wasm backend reports a user error at its own minified line (the failure this fixes)', () => {
    const { status, stderr } = runScript(`throw new Error('the user error');`);
    expect(status).not.toBe(0);
    expect(stderr).toContain('the user error');
    expect(stderr.length).toBeGreaterThan(10_000);
  }, 90_000);

  it('after installWasmKernels, an uncaught error prints as Node prints it: the message and its stack', () => {
    const { status, stderr } = runScript(`installWasmKernels();\nthrow new Error('the user error');`);
    expect(status).toBe(1);
    expect(stderr).toMatch(/^\/.*\.node-errors-[^\n]*\.ts:6\n/);
    expect(stderr).toContain('Error: the user error\n    at ');
    expect(stderr).not.toContain('tfjs-backend-wasm');
    expect(stderr.length).toBeLessThan(2_000);
  }, 90_000);

  it('an unhandled rejection too, and the program keeps its own listeners', () => {
    const { status, stderr } = runScript(
      `process.on('uncaughtException', (e) => { console.error('own listener:', (e as Error).message); process.exit(3); });
installWasmKernels();
void Promise.reject(new Error('the rejected error'));`,
    );
    expect(status).toBe(3);
    expect(stderr).toContain('own listener: the rejected error');
    expect(stderr).not.toContain('tfjs-backend-wasm');
  }, 90_000);

  it("removes only Emscripten's two rethrowing listeners, minified or not", () => {
    const mine = (): void => {};
    const emscripten: ['uncaughtException' | 'unhandledRejection', (...args: unknown[]) => void][] = [
      ['uncaughtException', new Function('return function (ex) { if (!(ex instanceof ExitStatus)) {\n throw ex;\n } }')()],
      ['uncaughtException', new Function('return function(e){if(!(e instanceof re))throw e}')()],
      ['unhandledRejection', new Function('return function (reason) { throw reason; }')()],
    ];
    process.on('uncaughtException', mine);
    for (const [event, listener] of emscripten) process.on(event as 'uncaughtException', listener);
    try {
      expect(keepNodeErrorReporting()).toBe(3);
      expect(process.listeners('uncaughtException')).toContain(mine);
      for (const [event, listener] of emscripten) expect(process.listeners(event as 'uncaughtException')).not.toContain(listener);
      expect(keepNodeErrorReporting()).toBe(0);
    } finally {
      process.removeListener('uncaughtException', mine);
      for (const [event, listener] of emscripten) process.removeListener(event as 'uncaughtException', listener);
    }
  });
});
