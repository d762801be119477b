import { TIME_MACHINE_ENV, loadDataTimeMachine } from '@rnnkit/data';

// For now the demo summarises the data; the training run replaces this once the models exist.
async function main(): Promise<void> {
  const { loader, vocab, corpus } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000 });
  console.log(`The Time Machine: ${corpus.length} characters used, vocabulary of ${vocab.size}`);
  console.log(`tokens: ${vocab.idxToToken.map((t) => JSON.stringify(t)).join(' ')}`);
  console.log(`minibatches of 32 x 35 per epoch: ${[...loader].length}`);
}

main().catch((err: unknown) => {
  console.error(`char-lm: ${err instanceof Error ? err.message : String(err)}`);
  console.error(`(Offline? Point ${TIME_MACHINE_ENV} at a local timemachine.txt.)`);
  process.exit(1);
});
