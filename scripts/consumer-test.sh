#!/usr/bin/env bash
# Consumer test: pack every published package, install the tarballs with plain npm into a fresh
# project outside the workspace (no workspace links), and use them as a user would: import each
# package by name, train the toy for a few steps, run `rnnkit --help` and a tiny `rnnkit train`.
# Needs a build first (pnpm build); The Time Machine is the copy shipped in @rnnkit/data's tarball.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# No local copy, no cache: the corpus must come from the tarball, offline.
unset RNNKIT_TIMEMACHINE
export XDG_CACHE_HOME="$work/cache"

mkdir -p "$work/tarballs" "$work/app"
# Run as a plain npm user would: drop the npm_config_* settings that pnpm passes to scripts.
while IFS= read -r var; do unset "$var"; done < <(env | grep -o '^npm_config_[^=]*' || true)
for pkg in packages/data packages/cells packages/models packages/training packages/interop apps/cli; do
  # pnpm pack turns workspace:^ into the real version ranges, as a publish would.
  (cd "$root/$pkg" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
done
echo "packed: $(cd "$work/tarballs" && ls | tr '\n' ' ')"

cd "$work/app"
node - "$work/tarballs" <<'JS'
const { readdirSync, writeFileSync } = require('node:fs');
const dir = process.argv[2];
const deps = {};
for (const f of readdirSync(dir)) {
  const name = `@rnnkit/${f.replace(/^rnnkit-/, '').replace(/-\d+\.\d+\.\d+.*\.tgz$/, '')}`;
  deps[name] = `file:${dir}/${f}`;
}
// What a user installs next to rnnkit: the engine (peer dependencies) and a pure backend.
Object.assign(deps, { '@tensorflow/tfjs-core': '^4.22.0', '@tensorflow/tfjs-layers': '^4.22.0', '@tensorflow/tfjs-backend-wasm': '^4.22.0' });
// overrides: the packages' dependencies on each other resolve to these tarballs, not the registry.
const overrides = Object.fromEntries(Object.entries(deps).filter(([n]) => n.startsWith('@rnnkit/')));
writeFileSync('package.json', JSON.stringify({ name: 'rnnkit-consumer', private: true, type: 'module', dependencies: deps, overrides }, null, 2));
JS
npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1 || { cat npm-install.log; exit 1; }
echo "npm install: ok ($(ls node_modules/@rnnkit | tr '\n' ' '))"
# The installed packages are the released versions of this checkout (0.1.0 and later, never 0.0.0);
# @rnnkit/interop is new since 0.1.0 and has no release yet.
for name in data cells models training cli; do
  dir=packages/$name; [ "$name" = cli ] && dir=apps/cli
  want=$(node -p "require('$root/$dir/package.json').version")
  got=$(node -p "require('./node_modules/@rnnkit/$name/package.json').version")
  if [ "$got" != "$want" ] || [ "$got" = 0.0.0 ]; then echo "@rnnkit/$name installed at $got, expected the released $want"; exit 1; fi
done
echo "versions: $(node -p "require('./node_modules/@rnnkit/cli/package.json').version") (every released package; @rnnkit/interop $(node -p "require('./node_modules/@rnnkit/interop/package.json').version"), not released yet)"
# @rnnkit/cli's native backends are optional peers: npm lists them but must not install them.
for native in tfjs-node tfjs-node-gpu; do
  if [ -e "node_modules/@tensorflow/$native" ]; then echo "npm installed the optional peer @tensorflow/$native"; exit 1; fi
done
grep -q '"@tensorflow/tfjs-node-gpu"' node_modules/@rnnkit/cli/package.json || { echo "@rnnkit/cli does not declare @tensorflow/tfjs-node-gpu"; exit 1; }

cat > use.mjs <<'JS'
// A user's script: every package by name, the toy trained for a few steps, a generated line.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { Vocab, fetchTimeMachineText, helloToy, loadDataTimeMachine } from '@rnnkit/data';
import { TIME_MACHINE_TEXT } from '@rnnkit/data/timemachine';
import { RNNModelScratch, gruCell, installWasmKernels } from '@rnnkit/cells';
import { RNNModel, SeqClassifier, createLanguageModel } from '@rnnkit/models';
import { createModelFromWeights, readSafetensors, weightsFromTorch, weightsOfModel, weightsToTorch, writeSafetensors } from '@rnnkit/interop';
import { onnxToWeights, weightsToOnnx } from '@rnnkit/interop/onnx';
import { predict, trainLanguageModel, trainSeqClassifier } from '@rnnkit/training';
import { VERSION, selectBackend } from '@rnnkit/cli';

await tf.setBackend('wasm');
installWasmKernels();
const book = await fetchTimeMachineText();
if (book.origin !== 'shipped' || book.text !== TIME_MACHINE_TEXT) throw new Error(`The Time Machine came from ${book.origin}, not the shipped copy`);
const toy = helloToy();
const clf = new SeqClassifier({ vocabSize: 4, embeddingSize: 10, numHiddens: 8, numClasses: 4, seed: 0 });
const history = trainSeqClassifier(clf, { X: toy.input, Y: toy.target, batchSize: 1, numSteps: 5 }, { epochs: 5 });
console.log(`toy: loss ${history[0].loss.toFixed(2)} -> ${history.at(-1).loss.toFixed(2)}, guess ${toy.decode(history.at(-1).prediction[0])}`);
if (!(history.at(-1).loss < history[0].loss)) throw new Error('the toy did not learn');
const { loader, vocab } = await loadDataTimeMachine({ batchSize: 8, numSteps: 10, maxTokens: 2000 });
if (!(vocab instanceof Vocab)) throw new Error('Vocab is not exported as a class');
for (const model of [new RNNModel({ vocabSize: vocab.size, cell: 'gru', numHiddens: 16 }), new RNNModelScratch({ vocabSize: vocab.size, numHiddens: 16, ...gruCell })]) {
  const r = await trainLanguageModel(model, loader, { epochs: 1, lr: 1 });
  console.log(`${model.constructor.name}: perplexity ${r.perplexity.toFixed(2)}, "${predict(model, vocab, 'time ', 10).text}"`);
}
// A model out to a PyTorch state dict (safetensors) and back in: the same text.
const config = { cell: 'gru', implementation: 'fused', numHiddens: 8, numLayers: 1, bidirectional: false, vocabSize: vocab.size, seed: 1 };
const lm = createLanguageModel(config);
const bytes = writeSafetensors(weightsToTorch(weightsOfModel(lm, config)));
const back = createModelFromWeights(weightsFromTorch(readSafetensors(bytes, 'gru.safetensors').tensors, { vocabSize: vocab.size }));
const [a, b] = [predict(lm, vocab, 'time ', 10).text, predict(back.model, vocab, 'time ', 10).text];
if (a !== b) throw new Error(`safetensors round trip: "${a}" became "${b}"`);
console.log(`@rnnkit/interop: ${bytes.length} bytes of safetensors, "${b}" both ways`);
const onnx = weightsToOnnx(weightsOfModel(lm, config));
const fromOnnx = onnxToWeights(onnx, { file: 'gru.onnx' }).weights;
if (fromOnnx.cell !== 'gru' || fromOnnx.numHiddens !== 8) throw new Error('@rnnkit/interop/onnx: the export did not read back');
console.log(`@rnnkit/interop/onnx: ${onnx.length} bytes of ONNX, read back as a ${fromOnnx.cell.toUpperCase()} ${fromOnnx.numHiddens}`);
lm.dispose();
back.model.dispose();
console.log(`@rnnkit/cli ${VERSION}, selectBackend is a ${typeof selectBackend}`);
JS
node use.mjs

npx --no-install rnnkit --help | head -5
npx --no-install rnnkit train --hidden 16 --epochs 2 --max-tokens 2000 --batch-size 8 --num-steps 10 --out run --print-every 1
for f in run/metrics.json run/perplexity.svg run/checkpoint/model.json run/checkpoint/weights.bin; do
  test -s "$f" || { echo "missing $f"; exit 1; }
done
npx --no-install rnnkit generate --checkpoint run --length 10
npx --no-install rnnkit export run --format onnx --out export/gru.onnx
test -s export/gru.onnx && test -s export/vocab.json || { echo "rnnkit export wrote no export/gru.onnx and vocab.json"; exit 1; }
echo "consumer test: ok"
