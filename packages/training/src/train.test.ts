import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeqDataLoader, createRng, loadDataTimeMachine, seqDataEvalBatches, textEncoding } from '@rnnkit/data';
import { RNNModelScratch, gruCell, lstmCell, rnnCell, type RecurrentLanguageModel } from '@rnnkit/cells';
import { useBackend } from '../../../test/backends.js';
import { RNNModel } from '@rnnkit/models';
import { makeOptimizer, predict, trainEpoch, trainLanguageModel, type StepPath } from './index.js';
import { adamInternals } from './optim.js';

describe('no tensor leaks', () => {
  beforeAll(() => useBackend('wasm'));

  it.each([
    ['rnn', rnnCell, false, 'sgd'],
    ['gru', gruCell, true, 'sgd'],
    ['lstm', lstmCell, false, 'adam'],
  ] as const)('%s: tf.memory().numTensors is flat over hundreds of steps', (_, cell, useRandomIter, opt) => {
    const corpus = Int32Array.from({ length: 600 }, (_, i) => (i * 7) % 11);
    const loader = new SeqDataLoader(corpus, { batchSize: 4, numSteps: 5, useRandomIter, seed: 1 });
    const model = new RNNModelScratch({ vocabSize: 11, numHiddens: 8, ...cell, seed: 2 });
    const optimizer = makeOptimizer(opt, 0.1);
    trainEpoch(model, loader, optimizer, { useRandomIter }); // optimizer slots exist after this
    const before = tf.memory().numTensors;
    let steps = 0;
    for (let epoch = 0; epoch < 12; epoch++) steps += trainEpoch(model, loader, optimizer, { useRandomIter }).steps;
    predict(
      model,
      { indicesOf: (t: Iterable<string>) => [...t].map(() => 1), has: () => true, tokensOf: (i: Iterable<number>) => [...i].map(String) } as never,
      'ab',
      5,
    );
    expect(steps).toBeGreaterThanOrEqual(300);
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    model.dispose();
  });
});

describe('training on The Time Machine (first 10,000 characters, batch 32, 35 steps, lr 1, clipping 1)', () => {
  beforeAll(() => useBackend('wasm'));

  // Perplexity bounds from the text itself: predicting by character frequency alone gives 17.4
  // on these 10,000 characters, and the best bigram table (next char from the current one only)
  // gives 9.87. A model whose updates, loss or targets are broken stays near or above 17.4;
  // a model whose recurrence is broken cannot go below 9.87.
  it('scratch GRU learns from its input: perplexity 13-15 after 30 epochs, far below 17.4', async () => {
    const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: 0 });
    const model = new RNNModelScratch({ vocabSize: vocab.size, numHiddens: 128, ...gruCell, seed: 0 });
    const result = await trainLanguageModel(model, loader, { epochs: 30, lr: 1, theta: 1 });
    const ppl = result.history.map((h) => h.perplexity);
    expect(ppl[0]).toBeGreaterThan(17.4);
    expect(result.perplexity).toBeLessThan(15);
    // Targets shifted wrongly (Y = X) would drive perplexity towards 1 instead.
    expect(result.perplexity).toBeGreaterThan(5);
    expect(result.tokensPerSecond).toBeGreaterThan(0);
    model.dispose();
  });

  it('scratch RNN uses its recurrence: perplexity below the bigram bound 9.87 after 40 epochs', async () => {
    const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: 0 });
    const model = new RNNModelScratch({ vocabSize: vocab.size, numHiddens: 256, ...rnnCell, seed: 0 });
    const result = await trainLanguageModel(model, loader, { epochs: 40, lr: 1, theta: 1 });
    expect(result.perplexity).toBeLessThan(9.8);
    const text = predict(model, vocab, 'time traveller', 20).text;
    expect(text.startsWith('time traveller')).toBe(true);
    expect(text.length).toBe(34);
    model.dispose();
  });
});

describe('trainLanguageModel', () => {
  beforeAll(() => useBackend('cpu'));
  const corpus = Int32Array.from({ length: 400 }, (_, i) => (i * 3) % 7);

  it('calls back per epoch and per step, and stops cleanly on abort', async () => {
    const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...rnnCell, seed: 1 });
    const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, seed: 1 });
    const controller = new AbortController();
    const epochs: number[] = [];
    let steps = 0;
    const before = tf.memory().numTensors;
    const result = await trainLanguageModel(model, loader, {
      epochs: 10,
      lr: 0.5,
      onStep: () => steps++,
      onEpochEnd: ({ epoch }) => {
        epochs.push(epoch);
        if (epoch === 3) controller.abort();
      },
      signal: controller.signal,
    });
    expect(epochs).toEqual([1, 2, 3]);
    expect(result.stopped).toBe(true);
    expect(result.epochsDone).toBe(3);
    expect(steps).toBeGreaterThan(30);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it.each([
    ['sgd', false],
    ['adam', false],
    ['sgd', true],
    ['adam', true],
  ] as const)(
    'a stop inside an epoch puts the model back to the last whole epoch (%s, random iteration %s): continuing equals an uninterrupted run',
    async (opt, useRandomIter) => {
      await stopInsideAnEpoch(() => new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 5 }), corpus, opt, useRandomIter);
    },
  );

  it("a stop inside an epoch with an optimizer of the caller's own that has no getWeights: the weights and draws still go back", async () => {
    // Plain SGD written as a user might: tf.Optimizer's getWeights and setWeights throw for it.
    class PlainSgd extends tf.Optimizer {
      static className = 'PlainSgd';
      applyGradients(grads: Parameters<tf.Optimizer['applyGradients']>[0]): void {
        const list = Array.isArray(grads) ? grads : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
        for (const { name, tensor } of list) {
          const v = tf.engine().registeredVariables[name]!;
          tf.tidy(() => v.assign(tf.sub(v, tf.mul(tensor, 0.5))));
        }
      }
      getConfig(): tf.serialization.ConfigDict {
        return {};
      }
    }
    await expect(new PlainSgd().getWeights()).rejects.toThrow(/not implemented/);
    await stopInsideAnEpoch(
      () => new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 5 }),
      corpus,
      () => new PlainSgd(),
      false,
    );
  });

  it("Adam's beta powers are Adam's only: every tfjs optimizer passes instanceof tf.AdamOptimizer, and Adamax trains with a signal", async () => {
    expect(tf.train.momentum(0.1, 0.9) instanceof tf.AdamOptimizer).toBe(true); // tfjs' shared Symbol.hasInstance
    expect(adamInternals(tf.train.adam(0.1))).not.toBeNull();
    for (const o of [tf.train.adamax(0.1), tf.train.momentum(0.1, 0.9), tf.train.sgd(0.1)]) expect(adamInternals(o)).toBeNull();
    const losses = async (signal?: AbortSignal) => {
      const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 5 });
      const optimizer = tf.train.adamax(0.05);
      const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, seed: 6 });
      const r = await trainLanguageModel(model, loader, { epochs: 2, lr: 0.05, optimizer, ...(signal ? { signal } : {}) });
      model.dispose();
      optimizer.dispose();
      return r.history.map((h) => h.loss);
    };
    const before = tf.memory().numTensors;
    expect(await losses(new AbortController().signal)).toEqual(await losses());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a stop leaves the last whole epoch with patience too (restoreBest is for a run that ends): continuing equals an uninterrupted run', async () => {
    // A held-out text unlike the training text: its perplexity is best early, so the best epoch is behind the stop.
    const validation = [
      ...seqDataEvalBatches(
        Int32Array.from({ length: 200 }, (_, i) => (i * 5 + ((i * i) % 3)) % 7),
        2,
        5,
      ),
    ];
    const run = async (stopAt?: number) => {
      const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 5 });
      const optimizer = makeOptimizer('sgd', 0.5);
      const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, seed: 6 });
      const options = { epochs: 6, lr: 0.5, optimizer, validation, patience: 10 };
      const controller = new AbortController();
      let steps = 0;
      const first = await trainLanguageModel(model, loader, {
        ...options,
        signal: controller.signal,
        onStep: () => {
          if (++steps === stopAt) controller.abort();
        },
      });
      const rest = first.stopped
        ? await trainLanguageModel(model, loader, { ...options, startEpoch: first.epochsDone, ...(first.best ? { best: first.best } : {}) })
        : null;
      const out = { first, history: [...first.history, ...(rest?.history ?? [])] };
      model.dispose();
      optimizer.dispose();
      return out;
    };
    const whole = await run();
    const stepsPerEpoch = whole.first.history[0]!.steps;
    const stopped = await run(2 * stepsPerEpoch + 3);
    expect(stopped.first).toMatchObject({ stopped: true, epochsDone: 2, restoredBest: false });
    expect(stopped.first.best!.epoch).toBeLessThan(2); // so a best-epoch restore would have changed the weights
    // Had the stop put back the best epoch's weights, epoch 3 would have trained from them. (The
    // final weights differ by design: each call restores only a best epoch of its own.)
    expect(stopped.history.map((h) => [h.loss, h.validationPerplexity])).toEqual(whole.history.map((h) => [h.loss, h.validationPerplexity]));
  });

  it("a stop before the epoch's first minibatch still puts back the loader's draw for that epoch", async () => {
    // getWeights that waits on a timer: the abort lands while the mark is taken, before any minibatch.
    class SlowSgd extends tf.SGDOptimizer {
      override async getWeights() {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return super.getWeights();
      }
    }
    const losses = async (stop: boolean) => {
      const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 5 });
      const optimizer = new SlowSgd(0.5);
      const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, seed: 6 });
      const controller = new AbortController();
      const first = await trainLanguageModel(model, loader, {
        epochs: 3,
        lr: 0.5,
        optimizer,
        signal: controller.signal,
        onEpochEnd: ({ epoch }) => {
          if (stop && epoch === 1) setTimeout(() => controller.abort(), 1);
        },
      });
      const history = [...first.history];
      if (first.stopped) {
        expect(first).toMatchObject({ epochsDone: 1 });
        history.push(...(await trainLanguageModel(model, loader, { epochs: 3, lr: 0.5, optimizer, startEpoch: first.epochsDone })).history);
      }
      model.dispose();
      optimizer.dispose();
      return history.map((h) => h.loss);
    };
    expect(await losses(true)).toEqual(await losses(false));
  });

  it('undoStoppedEpoch: false keeps the stopped epoch part (for callers that stop only between epochs)', async () => {
    const weightsAfter = async (undoStoppedEpoch: boolean, stopAt: number) => {
      const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 5 });
      const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, seed: 6 });
      const controller = new AbortController();
      let steps = 0;
      await trainLanguageModel(model, loader, {
        epochs: 3,
        lr: 0.5,
        signal: controller.signal,
        undoStoppedEpoch,
        onStep: () => {
          if (++steps === stopAt) controller.abort();
        },
      });
      const w = model.trainableVariables.map((v) => Array.from(v.dataSync()));
      model.dispose();
      return w;
    };
    const perEpoch = Math.floor(Math.floor((corpus.length - 1) / 2) / 5) - 1; // at least the steps of any epoch's first part
    const oneEpochAndThree = await weightsAfter(false, perEpoch + 3);
    expect(oneEpochAndThree).not.toEqual(await weightsAfter(true, perEpoch + 3));
  });

  it('is deterministic for a seed', async () => {
    const run = async () => {
      const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...gruCell, seed: 3 });
      const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, useRandomIter: true, seed: 4 });
      const r = await trainLanguageModel(model, loader, { epochs: 3, lr: 1, useRandomIter: true });
      model.dispose();
      return r.history.map((h) => h.perplexity);
    };
    expect(await run()).toEqual(await run());
  });

  it('rejects bad settings', async () => {
    const model = new RNNModelScratch({ vocabSize: 7, numHiddens: 6, ...rnnCell });
    const loader = new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5 });
    await expect(trainLanguageModel(model, loader, { epochs: 1, lr: 0 })).rejects.toThrow(/learning rate must be > 0/);
    await expect(trainLanguageModel(model, loader, { epochs: -1, lr: 1 })).rejects.toThrow(/epochs must be/);
    await expect(trainLanguageModel(model, loader, { epochs: 1, lr: 1, optimizer: 'rmsprop' as never })).rejects.toThrow(/Unknown optimizer "rmsprop"/);
    model.dispose();
  });
});

describe('predict', () => {
  beforeAll(() => useBackend('cpu'));

  it('is d2l predict_ch8: the one-call warm-up equals feeding the prefix one token at a time', async () => {
    const { vocab } = await loadDataTimeMachine({ batchSize: 2, numSteps: 5, maxTokens: 2000 });
    const model = new RNNModelScratch({ vocabSize: vocab.size, numHiddens: 16, ...lstmCell, seed: 5 });
    const prefix = 'time traveller';
    // Step by step, exactly as d2l.
    let state = model.beginState(1);
    const outputs = [vocab.indexOf(prefix[0]!)];
    const feed = (id: number) => {
      const { logits, state: next } = model.call(tf.tensor2d([[id]], [1, 1], 'int32'), state);
      state = next;
      return logits.dataSync();
    };
    for (const ch of prefix.slice(1)) {
      feed(outputs.at(-1)!);
      outputs.push(vocab.indexOf(ch));
    }
    for (let i = 0; i < 10; i++) {
      const l = feed(outputs.at(-1)!);
      outputs.push(l.indexOf(Math.max(...l)));
    }
    expect(predict(model, vocab, prefix, 10).text).toBe(vocab.tokensOf(outputs).join(''));
    model.dispose();
  });

  it('samples reproducibly with a seed; top-k 1 is greedy; unknown characters are reported', async () => {
    const { vocab } = await loadDataTimeMachine({ batchSize: 2, numSteps: 5, maxTokens: 2000 });
    const model = new RNNModelScratch({ vocabSize: vocab.size, numHiddens: 16, ...gruCell, seed: 6 });
    const a = predict(model, vocab, 'the', 30, { mode: 'sample', rng: createRng(1), temperature: 2 });
    const b = predict(model, vocab, 'the', 30, { mode: 'sample', rng: createRng(1), temperature: 2 });
    const c = predict(model, vocab, 'the', 30, { mode: 'sample', rng: createRng(2), temperature: 2 });
    expect(a.text).toBe(b.text);
    expect(a.text).not.toBe(c.text);
    expect(predict(model, vocab, 'the', 30, { mode: 'sample', rng: createRng(1), topK: 1 }).text).toBe(predict(model, vocab, 'the', 30).text);
    // d2l's encoding (the default) lower-cases the prefix and drops the digit; raw keeps both, unknown.
    expect(predict(model, vocab, 'Time 2', 3).unknownTokens).toEqual([]);
    expect(predict(model, vocab, 'Time 2', 3).prefix).toBe('time ');
    const unknown = predict(model, vocab, 'Time 2', 3, { text: textEncoding({ preprocess: 'raw' }) });
    expect(unknown.unknownTokens).toEqual(['T', '2']);
    expect(unknown.text.startsWith('Time 2')).toBe(true);
    expect(unknown.tokens).toHaveLength(3);
    expect(() => predict(model, vocab, '', 3)).toThrow(/prefix is empty/);
    expect(() => predict(model, vocab, 'a', 3, { mode: 'sample' })).toThrow(/seeded generator/);
    model.dispose();
  });
});

describe("the step's path (fused loss, one-pass update, kernels), reported once", () => {
  beforeAll(() => useBackend('wasm'));

  const corpus = Int32Array.from({ length: 600 }, (_, i) => (i * 7) % 12);
  const loader = () => new SeqDataLoader(corpus, { batchSize: 4, numSteps: 5, seed: 1 });

  it.each(['sgd', 'adam'] as const)('a stop inside an epoch with the update on the kernels (%s): continuing equals an uninterrupted run', async (opt) => {
    const paths: StepPath[] = [];
    await stopInsideAnEpoch(
      () => new RNNModel({ vocabSize: 12, cell: 'gru', numHiddens: 8, seed: 1 }),
      corpus,
      opt,
      false,
      (p) => paths.push(p),
    );
    expect(paths[0]?.ops).toContainEqual({ op: 'clippedUpdate', kernels: true });
  });

  it('the fused model on the kernels: recurrence, loss and update, told after the first step only', () => {
    const model = new RNNModel({ vocabSize: 12, cell: 'gru', numHiddens: 8, seed: 1 });
    const optimizer = makeOptimizer('sgd', 0.5);
    const paths: StepPath[] = [];
    const result = trainEpoch(model, loader(), optimizer, { onPath: (p) => paths.push(p) });
    expect(result.steps).toBeGreaterThan(2);
    expect(paths).toEqual([
      {
        ops: [
          { op: 'fusedRecurrence', kernels: true },
          { op: 'denseCrossEntropy', kernels: true },
          { op: 'clippedUpdate', kernels: true },
        ],
      },
    ]);
    optimizer.dispose();
    model.dispose();
  });

  it('says why a step fell back: a model without a fused loss, an optimizer the kernels do not run', () => {
    const model = new RNNModelScratch({ vocabSize: 12, numHiddens: 8, ...gruCell, seed: 2 });
    const optimizer = tf.train.momentum(0.1, 0.9);
    const paths: StepPath[] = [];
    trainEpoch(model, loader(), optimizer, { onPath: (p) => paths.push(p) });
    expect(paths).toEqual([
      {
        ops: [
          { op: 'denseCrossEntropy', kernels: false, reason: 'RNNModelScratch has no loss(): its logits, then a separate cross-entropy' },
          // The scratch cells' X W_x + H W_h + b, one kernel on the gemm.
          { op: 'affine', kernels: true },
          { op: 'clippedUpdate', kernels: false, reason: 'the optimizer is Momentum, not plain SGD or Adam' },
        ],
      },
    ]);
    optimizer.dispose();
    model.dispose();
  });
});

/**
 * Trains 3 epochs straight, and again with a stop three minibatches into the first epoch (Adam
 * has no moments yet), then into the second, each continued from where the stopped run says it is
 * (the same model, optimizer and loader, as a page's Stop and Continue use them): the losses,
 * weights and optimizer state must be the same bits.
 */
async function stopInsideAnEpoch(
  makeModel: () => RecurrentLanguageModel,
  corpus: Int32Array,
  opt: 'sgd' | 'adam' | (() => tf.Optimizer),
  useRandomIter: boolean,
  onPath?: (path: StepPath) => void,
): Promise<void> {
  for (const epoch of [1, 2]) {
    const setup = () => ({
      model: makeModel(),
      loader: new SeqDataLoader(corpus, { batchSize: 2, numSteps: 5, useRandomIter, seed: 6 }),
      optimizer: typeof opt === 'function' ? opt() : makeOptimizer(opt, 0.5),
    });
    const weights = (model: RecurrentLanguageModel) => model.trainableVariables.map((v) => Array.from(v.dataSync()));
    // The optimizer's state: Adam's moments and beta powers, and the iteration count (a fresh tensor each call).
    const slotValues = async (o: tf.Optimizer) => {
      const named = await o.getWeights().catch(() => []); // none to compare for an optimizer without getWeights
      const adam = adamInternals(o);
      const values = [...named.map((n) => n.tensor), ...(adam ? [adam.accBeta1, adam.accBeta2] : [])].map((t) => Array.from(t.dataSync()));
      tf.dispose(named.filter((n) => !(n.tensor instanceof tf.Variable)).map((n) => n.tensor));
      return values;
    };
    const start = tf.memory().numTensors;
    const whole = setup();
    const uninterrupted = await trainLanguageModel(whole.model, whole.loader, { epochs: 3, lr: 0.5, optimizer: whole.optimizer, useRandomIter, onPath });

    const run = setup();
    const controller = new AbortController();
    const stopAt = uninterrupted.history.slice(0, epoch - 1).reduce((n, h) => n + h.steps, 0) + 3;
    let steps = 0;
    const first = await trainLanguageModel(run.model, run.loader, {
      epochs: 3,
      lr: 0.5,
      optimizer: run.optimizer,
      useRandomIter,
      signal: controller.signal,
      onStep: () => {
        if (++steps === stopAt) controller.abort();
      },
    });
    expect(first).toMatchObject({ stopped: true, epochsDone: epoch - 1 });
    expect(steps).toBe(stopAt);
    const rest = await trainLanguageModel(run.model, run.loader, { epochs: 3, lr: 0.5, optimizer: run.optimizer, useRandomIter, startEpoch: first.epochsDone });
    expect([...first.history, ...rest.history].map((h) => h.loss)).toEqual(uninterrupted.history.map((h) => h.loss));
    expect(weights(run.model)).toEqual(weights(whole.model));
    expect(await slotValues(run.optimizer)).toEqual(await slotValues(whole.optimizer));
    for (const s of [whole, run]) {
      s.model.dispose();
      s.optimizer.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  }
}
