import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from './backend.js';
import { setKernelThreads } from '@rnnkit/cells';
import { PREPROCESSINGS } from '@rnnkit/data';
import { CELL_KINDS } from '@rnnkit/models';
import { RnnkitError, UsageError } from './errors.js';
import { runBench, BENCH_BACKENDS } from './commands/bench.js';
import { runClassify } from './commands/classify.js';
import { runGenerate } from './commands/generate.js';
import { runMigrate } from './commands/migrate.js';
import { runExport, runImport } from './commands/interop.js';
import { runSeq2Seq } from './commands/seq2seq.js';
import { runTimeseries } from './commands/timeseries.js';
import { runToy } from './commands/toy.js';
import { runTrain } from './commands/train.js';
import { runTranslate } from './commands/translate.js';
import { intOption, numberOption, RANGES, wholeNumberIn } from './flags.js';
import { jsonEvent } from './progress.js';
import { VERSION } from './version.js';
import { setProgramCommand } from './invocation.js';

const nonEmpty =
  (what: string) =>
  (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`must be ${what}, not empty.`);
    return value;
  };
const backendOption = () => new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES as string[]).default('auto');
const jsonOption = () => new Option('--json', 'machine-readable JSON lines on stdout');
const kernelThreadCount = (value: string): number | 'auto' => (value.trim() === 'auto' ? 'auto' : wholeNumberIn(...RANGES.threads)(value));
const threadsOption = () =>
  new Option(
    '--threads <n>',
    `threads of rnnkit's WebAssembly kernels (${RANGES.threads.join('-')}), or auto: the machine's cores ($RNNKIT_THREADS sets the default)`,
  ).argParser(kernelThreadCount);
/** --allow-unverified: the one way to load a checkpoint without checksums, its risk in its name and help. */
const allowUnverifiedOption = () =>
  new Option(
    '--allow-unverified',
    "load a checkpoint of rnnkit's first layout, which has no checksums: damage or edits to it go undetected (rnnkit migrate makes a verified copy)",
  );
/**
 * A command's parsed options with --backend and --json typed, as the run functions take them;
 * --threads is applied here, before any model runs.
 */
const withBackendAndJson = <O extends { backend?: unknown; json?: unknown; threads?: unknown }>(o: O) => {
  if (o.threads !== undefined) setKernelThreads(o.threads as number | 'auto');
  return { ...o, backend: o.backend as BackendChoice, json: Boolean(o.json) };
};

/** The options given on the command line (not defaults), by their attribute names. */
const givenOptions = (o: Record<string, unknown>, cmd: Command): string[] => Object.keys(o).filter((key) => cmd.getOptionValueSource(key) === 'cli');

/**
 * With --checkpoint a command uses a trained model and does not train: a given option outside
 * `applies` (the training flags: --epochs, --lr, --val-fraction...) would be ignored, so it is
 * refused, named, as `train --resume` refuses the settings its checkpoint fixes.
 */
function refuseWithCheckpoint(cmd: Command, given: readonly string[], applies: readonly string[], what: string): void {
  const ignored = given.filter((key) => key !== 'checkpoint' && !applies.includes(key) && !['backend', 'threads', 'json'].includes(key));
  if (ignored.length === 0) return;
  const flags = ignored.map((key) => cmd.options.find((opt) => opt.attributeName() === key)?.long ?? key);
  throw new UsageError(
    `--checkpoint ${what} and does not train: ${flags.join(', ')} ${flags.length > 1 ? 'have' : 'has'} no effect with it. Leave ${flags.length > 1 ? 'them' : 'it'} out ` +
      `(with --checkpoint: ${applies.map((key) => cmd.options.find((opt) => opt.attributeName() === key)?.long ?? key).join(', ')}), or train a new model without --checkpoint.`,
  );
}

/** The `rnnkit` command line. `run` resolves to the exit code. */
export function buildProgram(
  setExitCode: (code: number) => void = (code) => {
    process.exitCode = code;
  },
): Command {
  const program = new Command('rnnkit')
    .description('Recurrent neural networks on TensorFlow.js: d2l chapters 8-9 from the command line.')
    .version(VERSION)
    .showSuggestionAfterError(false)
    .exitOverride();

  program
    .command('train')
    .description(
      'Train a character- or word-level language model (d2l train_ch8): progress, validation, metrics.json, a perplexity plot and a checkpoint in --out.',
    )
    .addOption(new Option('--model <kind>', 'recurrent cell (LanguageModelConfig.cell in the library)').choices(CELL_KINDS).default('gru'))
    .addOption(
      new Option(
        '--impl <impl>',
        'scratch (d2l from scratch), fused (rnnkit, fastest) or layers (tf.layers): LanguageModelConfig.implementation in the library',
      )
        .choices(['scratch', 'fused', 'layers'])
        .default('fused'),
    )
    .addOption(intOption('--hidden <n>', 'hidden units', ...RANGES.hidden, 256))
    .addOption(intOption('--layers <n>', 'stacked layers (fused, layers)', ...RANGES.layers, 1))
    .option('--bidirectional', 'bidirectional layers (fused)', false)
    .addOption(intOption('--epochs <n>', 'epochs', ...RANGES.epochs, 500))
    .addOption(numberOption('--lr <x>', 'learning rate', ...RANGES.lr, 1, { aboveMin: true }))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam']).default('sgd'))
    .addOption(intOption('--batch-size <n>', 'minibatch size', ...RANGES.batchSize, 32))
    .addOption(intOption('--num-steps <n>', 'time steps per minibatch', ...RANGES.numSteps, 35))
    .option('--random-iter', 'random instead of sequential minibatches', false)
    .addOption(intOption('--max-tokens <n>', 'first N tokens (characters or words) of the text (0: all)', 0, 1_000_000_000, 10000))
    .option('--corpus <file>', 'a UTF-8 text file instead of The Time Machine', nonEmpty('a file'))
    .addOption(
      new Option(
        '--preprocess <kind>',
        'what the text keeps: d2l (a-z, lower case; all else becomes a space), letters (every Unicode letter, lower case), raw (every character)',
      )
        .choices(PREPROCESSINGS as string[])
        .default('d2l'),
    )
    .addOption(
      new Option('--tokens <kind>', "char, or word (d2l's tokenize(lines, 'word'); generation joins words with spaces)")
        .choices(['char', 'word'])
        .default('char'),
    )
    .addOption(intOption('--min-freq <n>', 'words seen fewer times become <unk> (d2l min_freq; --tokens word)', 0, 1_000_000_000, 0))
    .addOption(
      numberOption('--val-fraction <f>', "the corpus' last share held out for validation perplexity, never trained on (0: none)", 0, 1, 0, { belowMax: true }),
    )
    .addOption(
      intOption(
        '--patience <n>',
        'stop when validation perplexity has not improved for n epochs; the best is kept in checkpoint-best/ (needs --val-fraction)',
        1,
        1_000_000,
      ),
    )
    .addOption(
      new Option(
        '--lr-schedule <kind>',
        'learning rate by epoch: constant, step (x --lr-gamma every --lr-step-size epochs) or cosine (down to --lr-min over --epochs)',
      )
        .choices(['constant', 'step', 'cosine'])
        .default('constant'),
    )
    .addOption(intOption('--lr-step-size <n>', 'step schedule: epochs between cuts (default 100)', 1, 1_000_000))
    .addOption(numberOption('--lr-gamma <x>', 'step schedule: the factor of each cut (default 0.5)', 0, 1, undefined, { aboveMin: true }))
    .addOption(numberOption('--lr-min <x>', 'cosine schedule: the rate at the end (default 0)', ...RANGES.lr))
    .option(
      '--prefix <text>',
      `the text the sample lines continue (default: "time traveller" on The Time Machine, the corpus' first words otherwise)`,
      nonEmpty('some text'),
    )
    .addOption(intOption('--seed <n>', 'seed of weights and batches', ...RANGES.seed, 0))
    .option(
      '--out <dir>',
      "output folder (default: runs/train, or runs/train-2, -3... when that holds a run; with --resume, the resumed run's folder)",
      nonEmpty('a folder'),
    )
    .option('--force', 'replace the run already in --out', false)
    .option('--resume <dir>', 'continue the run whose checkpoint (or run folder) this is, with its settings and target --epochs', nonEmpty('a folder'))
    .addOption(allowUnverifiedOption())
    .addOption(intOption('--print-every <n>', 'epochs between sample lines', ...RANGES.epochs, 10))
    .addOption(intOption('--checkpoint-every <n>', 'epochs between checkpoints (also at the end and on Ctrl-C)', ...RANGES.epochs, 50))
    .addOption(intOption('--predict-length <n>', 'characters generated after each prefix', ...RANGES.length, 50))
    .addOption(
      intOption(
        '--workers <n>',
        'extra worker threads: each minibatch is split across them (data-parallel; pays for --impl layers, not the fused models)',
        ...RANGES.workers,
        0,
      ),
    )
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit train                                   d2l's GRU run: 500 epochs, hidden 256, lr 1
  rnnkit train --model lstm --epochs 100 --out runs/lstm
  rnnkit train --impl scratch --model rnn --hidden 512 --random-iter
  rnnkit train --corpus my-book.txt --max-tokens 0
  rnnkit train --corpus roman.txt --preprocess letters   keep é, ß, Cyrillic... (d2l keeps a-z)
  rnnkit train --corpus notes.txt --preprocess raw --max-tokens 0 --val-fraction 0.1 --patience 20
  rnnkit train --tokens word --min-freq 2 --max-tokens 0 --val-fraction 0.1   a word model of The Time Machine
  rnnkit train --lr-schedule cosine --lr-min 0.1
  rnnkit train --resume runs/train               continue after Ctrl-C (same settings and --epochs)

The Time Machine is read from $RNNKIT_TIMEMACHINE, the cache, or the copy shipped with @rnnkit/data.`,
    )
    .action(async (o, cmd: Command) => {
      const given = givenOptions(o, cmd);
      const summary = await runTrain({ ...withBackendAndJson(o), given });
      if (summary.signal) setExitCode(summary.signal === 'SIGTERM' ? 143 : 130);
    });

  program
    .command('generate')
    .description('Continue a prefix with a trained checkpoint (greedy, or sampled with --temperature / --top-k).')
    .requiredOption(
      '--checkpoint <path>',
      'checkpoint folder, the run folder holding checkpoint/, or a model .json (a page download name.json)',
      nonEmpty('a path'),
    )
    .addOption(allowUnverifiedOption())
    .option(
      '--prefix <text>',
      `text to continue, preprocessed as the training text was (d2l: "Time Traveller!" becomes "time traveller "); default: the run's sample prefix, or "time traveller"`,
      nonEmpty('some text'),
    )
    .addOption(intOption('--length <n>', 'tokens (characters or words) to generate', ...RANGES.length, 100))
    .addOption(numberOption('--temperature <x>', 'sample with this temperature', 0, 100, undefined, { aboveMin: true }))
    .addOption(intOption('--top-k <n>', 'sample among the k most likely tokens', 1, 1_000_000))
    .addOption(intOption('--seed <n>', 'seed of the sampling', ...RANGES.seed, 0))
    .option('--stream', 'print each token as it is made', false)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit generate --checkpoint runs/train --prefix "time traveller" --length 100
  rnnkit generate --checkpoint runs/train --temperature 0.8 --top-k 5 --seed 1
  rnnkit generate --checkpoint runs/train --stream --length 2000

A run folder with checkpoint-best/ (a run with --val-fraction) generates from the best epoch;
name RUN/checkpoint for the latest.`,
    )
    .action(async (o) => {
      const r = await runGenerate(withBackendAndJson(o));
      if (!o.json && !o.stream) process.stdout.write(`${r.text}\n`);
    });

  program
    .command('toy')
    .description('The hello -> ohlol toy: learn "hello" -> "ohlol" (Embedding -> RNN -> Linear, Adam).')
    .addOption(intOption('--epochs <n>', 'epochs', ...RANGES.epochs, 15))
    .addOption(numberOption('--lr <x>', 'Adam learning rate', ...RANGES.lr, 0.1, { aboveMin: true }))
    .addOption(intOption('--seed <n>', 'first seed', ...RANGES.seed, 0))
    .addOption(intOption('--seeds <n>', 'run this many seeds and report the distribution', 1, 10_000, 1))
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit toy                 prints "0 loss: 1.36 guess: hhllh" ... for 15 epochs
  rnnkit toy --seeds 20      when each of 20 seeds first guesses "ohlol" for good`,
    )
    .action(async (o) => {
      await runToy(withBackendAndJson(o));
    });

  program
    .command('seq2seq')
    .description('GRU encoder-decoder (d2l 9.7) on a toy translation: reverse random letter strings; exact match and BLEU on held-out strings.')
    .addOption(intOption('--train-size <n>', 'training pairs', 1, 10_000_000, 40000))
    .addOption(intOption('--test-size <n>', 'held-out pairs', 1, 1_000_000, 500))
    .addOption(intOption('--min-length <n>', 'shortest string', 1, 1000, 3))
    .addOption(intOption('--max-length <n>', 'longest string (at least --min-length)', 1, 1000, 10))
    .addOption(intOption('--epochs <n>', 'epochs', ...RANGES.epochs, 6))
    .addOption(numberOption('--lr <x>', 'Adam learning rate', ...RANGES.lr, 0.01, { aboveMin: true }))
    .addOption(numberOption('--lr-decay <x>', 'learning-rate factor per epoch', 0, 1, 0.6, { aboveMin: true }))
    .addOption(intOption('--batch-size <n>', 'minibatch size', ...RANGES.batchSize, 128))
    .addOption(intOption('--embed <n>', 'embedding size', ...RANGES.embed, 32))
    .addOption(intOption('--hidden <n>', 'hidden units', ...RANGES.hidden, 128))
    .addOption(intOption('--layers <n>', 'GRU layers', ...RANGES.layers, 2))
    .addOption(intOption('--seed <n>', 'seed', ...RANGES.seed, 0))
    .addOption(intOption('--examples <n>', 'examples printed at the end', 0, 10_000, 8))
    .option('--out <dir>', 'write metrics.json here')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit seq2seq
  rnnkit seq2seq --train-size 2000 --epochs 3 --max-length 5   a quick look`,
    )
    .action(async (o) => {
      await runSeq2Seq(withBackendAndJson(o));
    });

  program
    .command('translate')
    .description(
      "English-French translation, d2l 9.5-9.8: the GRU encoder-decoder with the book's settings; d2l's four examples with BLEU, mean BLEU on training and held-out pairs, your own --sentence; greedy or --beam k.",
    )
    .addOption(intOption('--epochs <n>', 'epochs', ...RANGES.epochs, 300))
    .addOption(numberOption('--lr <x>', 'Adam learning rate', ...RANGES.lr, 0.005, { aboveMin: true }))
    .addOption(intOption('--batch-size <n>', 'minibatch size', ...RANGES.batchSize, 64))
    .addOption(intOption('--num-steps <n>', 'tokens per sentence (with <eos>), and the longest translation', 1, 1000, 10))
    .addOption(intOption('--num-examples <n>', "d2l's num_examples (600 keeps 601 pairs, as d2l's code)", 1, 10_000_000, 600))
    .addOption(intOption('--embed <n>', 'embedding size', ...RANGES.embed, 32))
    .addOption(intOption('--hidden <n>', 'GRU hidden units', ...RANGES.hidden, 32))
    .addOption(intOption('--layers <n>', 'GRU layers', ...RANGES.layers, 2))
    .addOption(numberOption('--dropout <x>', 'dropout between GRU layers', 0, 1, 0.1, { belowMax: true }))
    .addOption(intOption('--seed <n>', 'seed of weights, dropout and batches', ...RANGES.seed, 0))
    .addOption(intOption('--beam <k>', 'beam size (1: greedy search)', 1, 100, 1))
    .addOption(numberOption('--alpha <x>', 'length penalty of the beam search: score / length^alpha', 0, 10, 0.75))
    .option('--sentence <text>', 'an English sentence to translate (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .addOption(intOption('--held-out <n>', 'held-out pairs: the lines after the training lines', 0, 1_000_000, 400))
    .option('--data <file>', "a local fra.txt or d2l's fra-eng.zip instead of the shipped first 1,000 lines")
    .option('--download', "download d2l's fra-eng.zip (SHA-1 checked, cached) instead of the shipped first 1,000 lines", false)
    .option(
      '--pairs <file>',
      'your own source<TAB>target pairs, any languages (its last tenth held out unless --held-out is given), instead of English-French',
      nonEmpty('a file'),
    )
    .option('--checkpoint <dir>', 'translate with this checkpoint (or run folder) instead of training', nonEmpty('a folder'))
    .addOption(allowUnverifiedOption())
    .option(
      '--out <dir>',
      'output folder (metrics.json, loss.svg, checkpoint/; default runs/translate, or with --checkpoint its run folder, for eval-beamK.json)',
    )
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit translate                                      d2l's run: 300 epochs, then go . => va !, ...
  rnnkit translate --checkpoint runs/translate --beam 3 --sentence "I'm cold."
  rnnkit translate --download --num-examples 5000       more of Tatoeba's pairs
  rnnkit translate --pairs de-en.tsv --epochs 100         your own pairs (source<TAB>target per line)

The sentence pairs are from the Tatoeba Project (tatoeba.org), CC-BY 2.0 FR, as packaged by
manythings.org/anki and d2l; the first 1,000 lines of fra.txt ship with @rnnkit/data.`,
    )
    .action(async (o, cmd: Command) => {
      const given = givenOptions(o, cmd);
      if (o.checkpoint !== undefined)
        refuseWithCheckpoint(
          cmd,
          given,
          ['allowUnverified', 'beam', 'alpha', 'sentence', 'heldOut', 'pairs', 'data', 'download', 'out'],
          'translates with a trained model (its num_steps and vocabularies)',
        );
      await runTranslate({ ...withBackendAndJson(o), given });
    });

  program
    .command('timeseries')
    .description(
      "GRU forecasting of d2l's noisy sine or your own series (--csv): 1-step and k-step-ahead MSE against linear autoregression and last-value baselines, forecasts past the end, and a plot.",
    )
    .addOption(intOption('--epochs <n>', 'epochs', ...RANGES.epochs, 10))
    .addOption(numberOption('--lr <x>', 'Adam learning rate', ...RANGES.lr, 0.01, { aboveMin: true }))
    .addOption(intOption('--batch-size <n>', 'minibatch size', ...RANGES.batchSize, 16))
    .addOption(intOption('--hidden <n>', 'GRU hidden units', ...RANGES.hidden, 32))
    .addOption(intOption('--tau <n>', 'window length', 1, 10_000, 4))
    .addOption(intOption('--seed <n>', 'seed of the noise, weights and batches', ...RANGES.seed, 0))
    .option('--csv <file>', "your own series: a column of numbers from this CSV file, instead of d2l's noisy sine", nonEmpty('a file'))
    .option('--column <name>', 'with --csv: the column, by header name or number from 1 (default: the last column of numbers only)', nonEmpty('a column'))
    .addOption(intOption('--horizon <n>', 'with --csv: steps to forecast past the end of the data (default 50)', 1, 100_000))
    .addOption(
      numberOption('--val-fraction <f>', 'with --csv: the share of the windows, the last ones, held out for validation (default 0.2)', 0, 1, undefined, {
        aboveMin: true,
        belowMax: true,
      }),
    )
    .option(
      '--checkpoint <dir>',
      'forecast with the GRU a --csv run saved (its checkpoint or run folder), on its CSV or --csv, instead of training',
      nonEmpty('a folder'),
    )
    .option('--out <dir>', 'output folder (metrics.json, forecast.svg; with --csv forecast.csv)', 'runs/timeseries')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit timeseries
  rnnkit timeseries --hidden 64 --epochs 20 --out runs/ts64
  rnnkit timeseries --csv sales.csv --column units --tau 14 --horizon 30
  rnnkit timeseries --checkpoint runs/timeseries --horizon 60   forecast again with that GRU`,
    )
    .action(async (o, cmd: Command) => {
      if (o.checkpoint !== undefined)
        refuseWithCheckpoint(cmd, givenOptions(o, cmd), ['csv', 'column', 'horizon', 'out'], 'forecasts with a trained GRU (its --tau and scaling)');
      if (o.csv === undefined && o.checkpoint === undefined) {
        const csvOnly = ['column', 'horizon', 'valFraction'].filter((k) => o[k] !== undefined);
        if (csvOnly.length > 0)
          throw new UsageError(`${csvOnly.map((k) => `--${k.replace(/[A-Z]/g, (c: string) => `-${c.toLowerCase()}`)}`).join(', ')} only work with --csv FILE.`);
      }
      await runTimeseries(withBackendAndJson(o));
    });

  program
    .command('classify')
    .description(
      'Sequence classification on your own labelled texts (text<TAB>label per line): a many-to-one GRU on characters or words, accuracy and a confusion matrix on a validation split; or classify --text with a trained --checkpoint.',
    )
    .option('--data <file>', 'text<TAB>label lines: train on them (with --checkpoint: measure its accuracy on them)', nonEmpty('a file'))
    .option('--checkpoint <dir>', 'classify with this trained classifier (checkpoint or run folder) instead of training', nonEmpty('a folder'))
    .option(
      '--text <text>',
      'a text to classify, with --checkpoint or after training (repeatable)',
      (v: string, prev: string[]) => [...prev, nonEmpty('some text')(v)],
      [] as string[],
    )
    .addOption(new Option('--tokens <kind>', 'characters or words (split at white space)').choices(['char', 'word']).default('char'))
    .addOption(intOption('--num-steps <n>', "tokens per text, longer ones cut (default the longest text's, at most 200)", 1, 10_000))
    .addOption(intOption('--min-freq <n>', 'tokens seen fewer times become <unk>', 1, 1_000_000, 1))
    .addOption(numberOption('--val-fraction <f>', "the share of each class's texts held out for validation", 0, 1, 0.2, { aboveMin: true, belowMax: true }))
    .addOption(new Option('--model <kind>', 'recurrent cell (SeqClassifierOptions.cell in the library)').choices(CELL_KINDS).default('gru'))
    .addOption(
      new Option('--pooling <how>', "what the classifier reads: each text's last real step (last) or the mean of its steps (mean)")
        .choices(['last', 'mean'])
        .default('last'),
    )
    .addOption(intOption('--embed <n>', 'embedding size', 1, 4096, 32))
    .addOption(intOption('--hidden <n>', 'hidden units', 1, 4096, 64))
    .addOption(intOption('--epochs <n>', 'epochs', ...RANGES.epochs, 10))
    .addOption(numberOption('--lr <x>', 'Adam learning rate', ...RANGES.lr, 0.01, { aboveMin: true }))
    .addOption(intOption('--batch-size <n>', 'minibatch size', ...RANGES.batchSize, 32))
    .addOption(
      new Option('--class-weights <how>', 'balanced: weigh each class by n / (classes * its count), for uneven classes')
        .choices(['none', 'balanced'])
        .default('none'),
    )
    .addOption(intOption('--seed <n>', 'seed of weights, split and batches', ...RANGES.seed, 0))
    .option('--out <dir>', 'output folder (metrics.json, accuracy.svg, checkpoint/)', nonEmpty('a folder'), 'runs/classify')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit classify --data reviews.tsv                         train, then accuracy and the confusion matrix
  rnnkit classify --data code.tsv --tokens char --epochs 20 --class-weights balanced
  rnnkit classify --checkpoint runs/classify --text "def main():" --text "int main(void) {"
  rnnkit classify --checkpoint runs/classify --data more.tsv  accuracy of a trained classifier on other rows

Each line of --data is a text, a tab and its label; blank lines are skipped, and a line without
exactly one tab is an error that names it.`,
    )
    .action(async (o, cmd: Command) => {
      if (o.checkpoint !== undefined)
        refuseWithCheckpoint(cmd, givenOptions(o, cmd), ['text', 'data'], 'classifies with a trained classifier (its tokens, num_steps and classes)');
      await runClassify(withBackendAndJson(o));
    });

  program
    .command('import')
    .description(
      "A PyTorch model into an rnnkit checkpoint: a state dict saved as safetensors (d2l's RNNModel, scratch model or 9.7 encoder-decoder, PyTorch's names) or a torch.onnx.export ONNX file of d2l's RNNModel, told apart by content.",
    )
    .argument('<file>', 'the .safetensors or .onnx file', nonEmpty('a path'))
    .option(
      '--vocab <file>',
      "vocab.json: d2l's vocab.idx_to_token as a JSON array (default: <name>.vocab.json or vocab.json beside the file)",
      nonEmpty('a path'),
    )
    .requiredOption('--out <dir>', 'the run folder to write (the checkpoint goes to its checkpoint/)', nonEmpty('a path'))
    .addOption(
      new Option('--impl <impl>', 'the implementation to import onto (default: fused, or what computes the model exactly)').choices([
        'scratch',
        'fused',
        'layers',
      ]),
    )
    .option('--corpus <file>', 'the text rnnkit train --resume continues on (default The Time Machine)', nonEmpty('a path'))
    .addOption(intOption('--max-tokens <n>', 'first N characters of that text for train --resume (0: all)', 0, 1_000_000_000, 10000))
    .addOption(
      intOption(
        '--num-steps <n>',
        "d2l's num_steps: a translation model reads sentences as this many tokens and translates to at most as many (default 10, d2l 9.7's); a language model's train --resume steps per minibatch (default 35)",
        1,
        1000,
      ),
    )
    .option('--force', 'replace a run already in --out')
    .addOption(backendOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit import gru.safetensors --vocab vocab.json --out runs/from-pytorch     then: rnnkit generate --checkpoint runs/from-pytorch
  rnnkit import rnn_model.onnx --out runs/from-onnx
  rnnkit import seq2seq.safetensors --vocab vocab.json --out runs/nmt           then: rnnkit translate --checkpoint runs/nmt`,
    )
    .action(async (file: string, o, cmd: Command) => {
      const given = givenOptions(o, cmd);
      await runImport({ ...withBackendAndJson(o), file, force: Boolean(o.force), given });
    });

  program
    .command('export')
    .description(
      "An rnnkit checkpoint out: a PyTorch state dict (safetensors, PyTorch's names: load_state_dict(strict=True) takes it) or ONNX (opset 14), with vocab.json beside it.",
    )
    .argument('<checkpoint>', 'a checkpoint folder, or a run folder holding checkpoint/', nonEmpty('a path'))
    .addOption(new Option('--format <format>', 'what to write').choices(['safetensors', 'onnx']).makeOptionMandatory())
    .requiredOption('--out <file>', 'the file to write (vocab.json goes beside it)', nonEmpty('a path'))
    .addOption(
      new Option('--style <names>', "safetensors names: d2l's concise RNNModel or its scratch model (default: the model's own)").choices([
        'concise',
        'scratch',
      ]),
    )
    .option('--force', 'replace a vocab.json beside --out that holds another vocabulary (an earlier export of another model)')
    .addOption(backendOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit export runs/train --format safetensors --out export/gru.safetensors     (PyTorch: net.load_state_dict(load_file(...), strict=True))
  rnnkit export runs/train --format onnx --out export/gru.onnx                   (ONNX Runtime: tokens, h0 -> logits, hn)`,
    )
    .action(async (checkpoint: string, o) => {
      await runExport({ ...withBackendAndJson(o), checkpoint, force: Boolean(o.force) });
    });

  program
    .command('migrate')
    .description(
      "Write a verified copy of a checkpoint (any kind): for checkpoints of rnnkit's first layout, which record no checksums. The copy is read back with every check and compared weight for weight.",
    )
    .requiredOption(
      '--checkpoint <path>',
      'the checkpoint to copy: a checkpoint folder, a run folder holding checkpoint/, or a model .json',
      nonEmpty('a path'),
    )
    .requiredOption('--out <dir>', 'run folder of the copy (it gets checkpoint/)', nonEmpty('a folder'))
    .option('--force', 'replace a run already in --out', false)
    .addOption(backendOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit migrate --checkpoint runs/old --out runs/old-verified
  rnnkit generate --checkpoint runs/old-verified`,
    )
    .action(async (o) => {
      await runMigrate(withBackendAndJson(o));
    });

  program
    .command('bench')
    .description(
      'Training throughput (tokens/s) and memory of the fused, layers and scratch models on the pure backends. Prints a table, or JSON lines with --json.',
    )
    .addOption(intOption('--steps <n>', 'timed steps per case (median)', 1, 100_000, 30))
    .addOption(intOption('--warmup <n>', 'untimed steps first', 0, 100_000, 3))
    .option('--backends <list>', `comma-separated: ${BENCH_BACKENDS.join(', ')}`, 'wasm,cpu')
    .option('--only <ids>', 'comma-separated case ids (e.g. fused-gru-256,layers-gru-256)')
    .option('--json-file <file>', 'also write the rows here')
    .addOption(intOption('--workers <n>', 'also time each case data-parallel with this many extra worker threads', ...RANGES.workers, 0))
    .addOption(threadsOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  rnnkit bench
  rnnkit bench --backends wasm-stock,wasm --only fused-gru-256,layers-gru-256 --steps 30`,
    )
    .action(async (o) => {
      if (o.threads !== undefined) setKernelThreads(o.threads);
      await runBench({
        steps: o.steps,
        warmup: o.warmup,
        backends: String(o.backends).split(','),
        only: o.only?.split(','),
        jsonFile: o.jsonFile,
        workers: o.workers,
        json: Boolean(o.json),
      });
    });
  return program;
}

/** The library's option names that the command line spells as flags, for error messages. */
const FLAG_NAMES: Record<string, string> = {
  numSteps: '--num-steps',
  batchSize: '--batch-size',
  maxTokens: '--max-tokens',
  numHiddens: '--hidden',
  numLayers: '--layers',
  numPreds: '--length',
  topK: '--top-k',
  useRandomIter: '--random-iter',
  preprocess: '--preprocess',
};
/** An error from the libraries, with their option names replaced by the flags that set them. */
const cliNames = (message: string): string =>
  message.replace(
    /(?<![-.\w])(numSteps|batchSize|maxTokens|numHiddens|numLayers|numPreds|topK|useRandomIter|preprocess)\b/g,
    (name) => FLAG_NAMES[name] ?? name,
  );

/** The errors of memory that ran out (the wasm heap's 4 GiB, a typed array too large). */
const OUT_OF_MEMORY = /WebAssembly\.Memory\.grow|Maximum memory size exceeded|Array buffer allocation failed|Invalid typed array length|out of memory/i;

/** The one line a failed command prints (after `rnnkit: `): the error's first line, in the command line's words. */
export function failureMessage(err: unknown): string {
  const message = cliNames((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '');
  // Memory that ran out deep in TensorFlow.js or the wasm heap: say what to change.
  if (OUT_OF_MEMORY.test(message) && !message.startsWith('out of memory ('))
    return `out of memory (${message.replace(/\.$/, '')}): the wasm backend holds at most 4 GiB; train with smaller sizes (--batch-size, --num-steps, --hidden, --embed) or on a native backend (--backend tensorflow).`;
  return message;
}

/** Runs the command line; returns the exit code (0 ok, 1 a problem with files or data, 2 bad usage, 130/143 stopped by SIGINT/SIGTERM after saving). */
/** How an app runs the CLI. */
export interface RunOptions {
  /**
   * For an app that runs one command on the user's arguments (the char-LM demo): how the user
   * runs that app again, printed in hints instead of `rnnkit <command>` (e.g. `pnpm start`).
   */
  programCommand?: string;
}

export async function run(argv: string[], options: RunOptions = {}): Promise<number> {
  setProgramCommand(options.programCommand);
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    // A bare `rnnkit` is a usage mistake: the help, on stderr, and exit code 2.
    process.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its one-line message (or the help / version).
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (argv.includes('--json')) process.stdout.write(`${jsonEvent('error', { message: err.message.replace(/^error: /, ''), exitCode: 2 })}\n`);
      return 2;
    }
    const message = failureMessage(err);
    const code = err instanceof UsageError ? 2 : 1;
    process.stderr.write(`rnnkit: ${message}\n`);
    // --json's contract: the last line on stdout is an event, here an error.
    if (argv.includes('--json')) process.stdout.write(`${jsonEvent('error', { message, exitCode: code })}\n`);
    if (code === 1 && !(err instanceof RnnkitError) && process.env.RNNKIT_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return code;
  }
}
