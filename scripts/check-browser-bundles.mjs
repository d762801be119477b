// Proves the built packages bundle for browsers: esbuild (platform browser, which resolves the
// `browser`/`import`/`default` export conditions and knows no Node built-ins) bundles each package,
// then all four together with the wasm backend, as an app would. A `node:` or bare built-in import
// fails to resolve and fails the check; our own modules are also scanned for Node-only globals.
// A self-test first shows both checks do fail on a Node import and on setImmediate.
// Run after `pnpm build`: `pnpm check-browser`. Prints one line per bundle and a count.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'node_modules', '.cache', 'browser-check');
const PACKAGES = ['data', 'cells', 'models', 'training', 'interop'];
// Node-only globals that must not appear in our browser code (tfjs's own guarded uses are not scanned).
const NODE_GLOBALS = /\b(setImmediate|process\.(env|pid|platform|versions|on|exit|stdout|stderr)|Buffer\.|__dirname|__filename|require\()/;

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'node_modules', '@rnnkit'), { recursive: true });
// Packages resolve by name through their package.json `exports`, as they do for a user.
for (const p of PACKAGES) symlinkSync(join(root, 'packages', p), join(work, 'node_modules', '@rnnkit', p), 'dir');

const bundles = {
  ...Object.fromEntries(PACKAGES.map((p) => [`@rnnkit/${p}`, `import * as m from '@rnnkit/${p}';\nconsole.log(Object.keys(m).length);\n`])),
  '@rnnkit/data/timemachine': `import { TIME_MACHINE_TEXT } from '@rnnkit/data/timemachine';\nconsole.log(TIME_MACHINE_TEXT.length);\n`,
  '@rnnkit/interop/onnx': `import * as m from '@rnnkit/interop/onnx';\nconsole.log(Object.keys(m).length);\n`,
  'all four + wasm backend': `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadDataTimeMachine } from '@rnnkit/data';
import { installWasmKernels } from '@rnnkit/cells';
import { RNNModel } from '@rnnkit/models';
import { trainLanguageModel } from '@rnnkit/training';
await tf.setBackend('wasm');
installWasmKernels();
const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35 });
console.log(loader, vocab, RNNModel, trainLanguageModel);
`,
};

async function bundle(name, source) {
  const file = join(work, `${name.replace(/[^a-z0-9]+/gi, '-')}.js`);
  writeFileSync(file, source);
  const result = await build({
    entryPoints: [file],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    outdir: join(work, 'out'),
  });
  const ours = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules/.pnpm') && /packages\//.test(f));
  for (const f of ours) {
    const text = await readFile(join(root, f.replace(/^(\.\.\/)+/, '')), 'utf8').catch(() => readFile(f, 'utf8'));
    const hit = text.split('\n').find((line) => NODE_GLOBALS.test(line));
    if (hit) throw new Error(`${f} uses a Node-only global in a browser bundle: ${hit.trim()}`);
  }
  const bytes = result.outputFiles.reduce((n, f) => n + f.contents.length, 0);
  return { bytes, ours: ours.length, inputs: Object.keys(result.metafile.inputs) };
}

function describeError(err) {
  return err.errors?.length ? err.errors.map((e) => `${e.text}${e.location ? ` (${e.location.file})` : ''}`).join('; ') : err.message;
}

// Self-test: the check must fail on a Node built-in and on a Node-only global.
const selfTests = {
  'a node: import': `import { readFileSync } from 'node:fs';\nconsole.log(readFileSync);\n`,
  'a bare built-in': `import { join } from 'path';\nconsole.log(join);\n`,
};
for (const [what, source] of Object.entries(selfTests)) {
  const failed = await bundle(`self-test ${what}`, source).then(
    () => false,
    (err) => {
      console.log(`self-test: ${what} is refused: ${describeError(err)}`);
      return true;
    },
  );
  if (!failed) throw new Error(`check-browser-bundles: a bundle with ${what} passed; the check cannot fail`);
}
mkdirSync(join(root, 'packages', 'data', 'node_modules', '.browser-check'), { recursive: true });
const probe = join(root, 'packages', 'data', 'node_modules', '.browser-check', 'probe.js');
writeFileSync(probe, 'setImmediate(() => {});\n');
const globalCaught = await bundle('self-test setImmediate', `import '${probe}';\n`).then(
  () => false,
  (err) => {
    console.log(`self-test: setImmediate is refused: ${describeError(err)}`);
    return true;
  },
);
rmSync(dirname(probe), { recursive: true, force: true });
if (!globalCaught) throw new Error('check-browser-bundles: setImmediate passed; the global scan cannot fail');

/** Entries that must bundle without TensorFlow.js. */
const LIGHT = new Set(['@rnnkit/interop/onnx']);
let failed = 0;
for (const [name, source] of Object.entries(bundles)) {
  try {
    const { bytes, ours, inputs } = await bundle(name, source);
    // The ONNX entry is apart so that it stays light: protobufjs, never TensorFlow.js.
    const heavy = LIGHT.has(name) ? inputs.find((f) => /@tensorflow[\\/]/.test(f)) : undefined;
    if (heavy) throw new Error(`${name} pulls in TensorFlow.js (${heavy}); it must not.`);
    console.log(`ok   ${name}: ${(bytes / 1024).toFixed(0)} KiB, ${ours} rnnkit modules, no Node built-ins`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${describeError(err)}`);
  }
}
rmSync(work, { recursive: true, force: true });
const total = Object.keys(bundles).length;
console.log(`browser bundles: ${total - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
