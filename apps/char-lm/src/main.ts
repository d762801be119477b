// The char-level language-model demo: a GRU on the first 10,000 characters of The Time Machine
// with d2l's settings (batch 32, 35 steps, lr 1, clipping 1, 500 epochs, sequential iteration)
// on the fused implementation. Prints progress, perplexity, tokens/s and generated text; writes
// metrics.json to --out.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { TIME_MACHINE_ENV, loadDataTimeMachine, writeFileAtomic } from '@rnnkit/data';
import { RNNModel } from '@rnnkit/models';
import { predict, trainLanguageModel } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from './backend.js';

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      epochs: { type: 'string', default: '500' },
      hidden: { type: 'string', default: '256' },
      backend: { type: 'string', default: 'auto' },
      out: { type: 'string', default: 'runs/char-lm' },
      seed: { type: 'string', default: '0' },
    },
  });
  const backend = await selectBackend(args.backend as BackendChoice);
  const epochs = Number(args.epochs);
  const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: Number(args.seed) });
  const model = new RNNModel({ vocabSize: vocab.size, numHiddens: Number(args.hidden), cell: 'gru', seed: Number(args.seed) });
  console.log(`char-lm: GRU ${args.hidden} (fused), The Time Machine (10,000 chars), ${epochs} epochs, backend ${backend}`);
  const started = performance.now();
  const history: { epoch: number; perplexity: number; tokensPerSecond: number }[] = [];
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const result = await trainLanguageModel(model, loader, {
    epochs,
    lr: 1,
    theta: 1,
    signal: controller.signal,
    onEpochEnd: ({ epoch, perplexity, tokensPerSecond }) => {
      history.push({ epoch, perplexity, tokensPerSecond });
      if (epoch % 10 === 0 || epoch === epochs) {
        const elapsed = (performance.now() - started) / 1000;
        const left = (elapsed / epoch) * (epochs - epoch);
        console.log(
          `epoch ${String(epoch).padStart(3)}/${epochs}  perplexity ${perplexity.toFixed(2).padStart(6)}  ${Math.round(tokensPerSecond)} tokens/s  ${elapsed.toFixed(0)} s, ~${left.toFixed(0)} s left  | ${predict(model, vocab, 'time traveller', 30).text}`,
        );
      }
    },
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(`perplexity ${result.perplexity.toFixed(2)}, ${Math.round(result.tokensPerSecond)} tokens/s on ${backend}, ${seconds.toFixed(0)} s${result.stopped ? ' (stopped early)' : ''}`);
  console.log(predict(model, vocab, 'time traveller', 50).text);
  console.log(predict(model, vocab, 'traveller', 50).text);
  await mkdir(args.out, { recursive: true });
  await writeFileAtomic(
    join(args.out, 'metrics.json'),
    JSON.stringify({ model: 'gru', hidden: Number(args.hidden), epochs, backend, seconds, tfjs: tf.version_core, history }, null, 2),
  );
  console.log(`metrics: ${join(args.out, 'metrics.json')}`);
  model.dispose();
}

main().catch((err: unknown) => {
  console.error(`char-lm: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof Error && /timemachine|Time Machine/i.test(err.message)) {
    console.error(`(Offline? Point ${TIME_MACHINE_ENV} at a local timemachine.txt.)`);
  }
  process.exit(1);
});
