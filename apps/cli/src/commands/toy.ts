import { helloToy } from '@rnnkit/data';
import { SeqClassifier } from '@rnnkit/models';
import { trainSeqClassifier } from '@rnnkit/training';
import { median } from '../median.js';
import { selectBackend, type BackendChoice } from '../backend.js';
import { createReporter, versions, writeLine, kernelsInfo, kernelsSummary } from '../progress.js';
import { divergenceCheck, trainingFailure, uniformCrossEntropy } from '../divergence.js';

export interface ToyCommandOptions {
  epochs: number;
  lr: number;
  seed: number;
  /** Run this many seeds (seed, seed+1, ...) and report when each first guesses "ohlol" for good. */
  seeds: number;
  backend: BackendChoice;
  json: boolean;
}

export interface ToyRun {
  seed: number;
  guesses: string[];
  losses: number[];
  /** First 0-based epoch from which every guess is "ohlol"; null if it never settles. */
  solvedAt: number | null;
}

/** `rnnkit toy`: the "hello" -> "ohlol" toy (Embedding 4x10 -> RNN 10->8 -> Linear 8->4, Adam lr 0.1). */
export async function runToy(opts: ToyCommandOptions, write: (line: string) => void = writeLine): Promise<ToyRun[]> {
  const backend = await selectBackend(opts.backend);
  const reporter = createReporter(opts.json ? 'json' : 'lines', write);
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  reporter.event('start', { command: 'toy', backend, versions: versions(), kernels: kernelsInfo() });
  const toy = helloToy();
  const runs: ToyRun[] = [];
  for (let i = 0; i < opts.seeds; i++) {
    const seed = opts.seed + i;
    const model = new SeqClassifier({ vocabSize: 4, embeddingSize: 10, numHiddens: 8, numClasses: 4, seed });
    const diverged = divergenceCheck(uniformCrossEntropy(4), 'loss');
    let history: ReturnType<typeof trainSeqClassifier>;
    try {
      history = trainSeqClassifier(
        model,
        { X: toy.input, Y: toy.target, batchSize: 1, numSteps: 5 },
        {
          epochs: opts.epochs,
          lr: opts.lr,
          onEpochEnd: ({ epoch, loss, prediction }) => {
            diverged(epoch, loss);
            const guess = toy.decode(prediction[0] ?? []);
            reporter.event('epoch', { seed, epoch, loss, guess });
            if (opts.seeds === 1) reporter.info(`${epoch} loss: ${loss.toFixed(2)} guess: ${guess}`);
          },
        },
      );
    } catch (err) {
      model.dispose();
      throw await trainingFailure(err, { what: 'loss', lr: opts.lr, kept: `seed ${seed} did not finish.` });
    }
    model.dispose();
    const guesses = history.map((h) => toy.decode(h.prediction[0] ?? []));
    let solvedAt: number | null = null;
    for (let e = guesses.length - 1; e >= 0 && guesses[e] === 'ohlol'; e--) solvedAt = e;
    runs.push({ seed, guesses, losses: history.map((h) => h.loss), solvedAt });
  }
  const solved = runs.filter((r) => r.solvedAt !== null).map((r) => r.solvedAt as number);
  const summary = {
    seeds: opts.seeds,
    solved: solved.length,
    firstEpoch: solved.length ? { min: Math.min(...solved), median: median(solved), max: Math.max(...solved) } : null,
    perSeed: runs.map((r) => ({ seed: r.seed, solvedAt: r.solvedAt, final: r.guesses.at(-1) })),
  };
  reporter.event('done', summary);
  if (opts.seeds > 1) {
    for (const r of runs)
      reporter.info(`seed ${r.seed}: ${r.solvedAt === null ? `not solved (last guess ${r.guesses.at(-1)})` : `ohlol from epoch ${r.solvedAt}`}`);
    reporter.info(
      `${solved.length}/${opts.seeds} seeds end at exactly "ohlol" and stay there` +
        (summary.firstEpoch ? `, first from epoch ${summary.firstEpoch.min}-${summary.firstEpoch.max} (median ${summary.firstEpoch.median})` : ''),
    );
  }
  return runs;
}
