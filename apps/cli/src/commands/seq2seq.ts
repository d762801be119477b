import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Vocab, buildArrayNmt, reversePairs, writeFileAtomic } from '@rnnkit/data';
import { EncoderDecoder } from '@rnnkit/models';
import { bleu, evaluateSeq2Seq, trainSeq2Seq, translationKind } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { createReporter, versions, writeLine, kernelsInfo, kernelsSummary } from '../progress.js';
import { divergenceCheck, trainingFailure, uniformCrossEntropy } from '../divergence.js';
import { UsageError } from '../errors.js';
import { checkWeightsFit } from '../memory.js';

export interface Seq2SeqCommandOptions {
  trainSize: number;
  testSize: number;
  minLength: number;
  maxLength: number;
  epochs: number;
  lr: number;
  /** Learning-rate factor per epoch. */
  lrDecay: number;
  batchSize: number;
  embed: number;
  hidden: number;
  layers: number;
  seed: number;
  /** Examples printed at the end. */
  examples: number;
  out?: string;
  backend: BackendChoice;
  json: boolean;
}

export interface Seq2SeqResult {
  exactMatch: number;
  bleu: number;
  history: { epoch: number; loss: number; exactMatch: number; bleu: number; seconds: number }[];
  examples: { source: string; target: string; prediction: string; bleu: number }[];
}

/**
 * `rnnkit seq2seq`: d2l's GRU encoder-decoder on a toy translation task, reversing random letter
 * strings; held-out strings (a different seed) measure exact match and d2l's BLEU after each epoch.
 */
export async function runSeq2Seq(opts: Seq2SeqCommandOptions, write: (line: string) => void = writeLine): Promise<Seq2SeqResult> {
  if (opts.minLength > opts.maxLength)
    throw new UsageError(`--min-length ${opts.minLength} is more than --max-length ${opts.maxLength}: give --min-length <= --max-length.`);
  const backend = await selectBackend(opts.backend);
  const reporter = createReporter(opts.json ? 'json' : 'lines', write);
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  reporter.event('start', { command: 'seq2seq', backend, versions: versions(), kernels: kernelsInfo() });
  const vocab = new Vocab([...'abcdefghijklmnopqrstuvwxyz'], { reservedTokens: ['<pad>', '<bos>', '<eos>'] });
  const [pad, bos, eos] = ['<pad>', '<bos>', '<eos>'].map((t) => vocab.indexOf(t)) as [number, number, number];
  const lengths = { minLength: opts.minLength, maxLength: opts.maxLength };
  const train = reversePairs({ count: opts.trainSize, ...lengths, seed: `${opts.seed}-train` });
  const test = reversePairs({ count: opts.testSize, ...lengths, seed: `${opts.seed}-test` });
  const numSteps = opts.maxLength + 1; // room for <eos>
  // Sources are left-padded so the encoder's last step is a real letter (see EncoderDecoder).
  const encode = (pairs: { source: string; target: string }[]) => ({
    src: buildArrayNmt(
      pairs.map((p) => vocab.indicesOf([...p.source])),
      numSteps,
      { pad, side: 'left' },
    ),
    tgt: buildArrayNmt(
      pairs.map((p) => vocab.indicesOf([...p.target])),
      numSteps,
      { pad, eos },
    ),
  });
  const trainData = encode(train);
  const testSrc = encode(test).src;
  const testTargets = test.map((p) => [...p.target]);
  const options = {
    srcVocabSize: vocab.size,
    tgtVocabSize: vocab.size,
    embedSize: opts.embed,
    numHiddens: opts.hidden,
    numLayers: opts.layers,
    seed: opts.seed,
  };
  checkWeightsFit(
    translationKind.weightCount(translationKind.checkConfig(options)),
    backend,
    `--embed ${opts.embed}, --hidden ${opts.hidden} and --layers ${opts.layers}`,
  );
  const model = new EncoderDecoder(options);
  const diverged = divergenceCheck(uniformCrossEntropy(vocab.size), 'loss per token');
  reporter.info(
    `reverse task: ${opts.trainSize} training / ${opts.testSize} held-out strings of ${opts.minLength}-${opts.maxLength} letters; ` +
      `GRU encoder-decoder (embed ${opts.embed}, hidden ${opts.hidden}, ${opts.layers} layers), Adam lr ${opts.lr}${opts.lrDecay !== 1 ? ` (x${opts.lrDecay} per epoch)` : ''}, batch ${opts.batchSize}, ${opts.epochs} epochs`,
  );
  const history: Seq2SeqResult['history'] = [];
  const evaluate = () => evaluateSeq2Seq(model, testSrc, testTargets, { tgtVocab: vocab, bos, eos, maxLength: numSteps + 1 });
  try {
    trainSeq2Seq(model, trainData, {
      epochs: opts.epochs,
      lr: opts.lr,
      lrDecay: opts.lrDecay,
      batchSize: opts.batchSize,
      bos,
      seed: opts.seed,
      onEpochEnd: ({ epoch, loss, seconds, tokensPerSecond }) => {
        diverged(epoch, loss);
        const ev = evaluate();
        history.push({ epoch, loss, exactMatch: ev.exactMatch, bleu: ev.bleu, seconds });
        reporter.info(
          `epoch ${epoch}, loss ${loss.toFixed(3)}, held-out exact match ${(100 * ev.exactMatch).toFixed(1)}%, BLEU ${ev.bleu.toFixed(3)}, ${Math.round(tokensPerSecond)} tokens/s`,
        );
        reporter.event('epoch', { epoch, loss, exactMatch: ev.exactMatch, bleu: ev.bleu, seconds });
      },
    });
  } catch (err) {
    model.dispose();
    const metrics = opts.out ? join(opts.out, 'metrics.json') : undefined;
    throw await trainingFailure(err, {
      what: 'loss per token',
      lr: opts.lr,
      kept: metrics ? `${metrics} records where.` : 'nothing was saved.',
      ...(metrics ? { metrics: { file: metrics, record: { backend, options: opts, history } } } : {}),
    });
  }
  const final = evaluate();
  const examples = test.slice(0, opts.examples).map((p, i) => {
    const tokens = vocab.tokensOf(final.predictions[i] ?? []);
    return { ...p, prediction: tokens.join(''), bleu: bleu(tokens, [...p.target], 2, { unk: vocab.tokenOf(vocab.unk) }) };
  });
  for (const e of examples)
    reporter.info(`${e.source} => ${e.prediction}, bleu ${e.bleu.toFixed(3)}${e.prediction === e.target ? '' : ` (target ${e.target})`}`);
  reporter.info(
    `held-out exact match ${(100 * final.exactMatch).toFixed(1)}% (${Math.round(final.exactMatch * opts.testSize)}/${opts.testSize}), mean BLEU ${final.bleu.toFixed(3)}`,
  );
  model.dispose();
  const result = { exactMatch: final.exactMatch, bleu: final.bleu, history, examples };
  if (opts.out) {
    await mkdir(opts.out, { recursive: true });
    await writeFileAtomic(join(opts.out, 'metrics.json'), `${JSON.stringify({ backend, options: opts, ...result }, null, 2)}\n`);
  }
  reporter.event('done', { exactMatch: final.exactMatch, bleu: final.bleu, examples });
  return result;
}
