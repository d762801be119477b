// Runs in Node and in the browser: the shipped book is d2l's exact file, and the default source.
import { describe, expect, it } from 'vitest';
import { TIME_MACHINE_SHA1, sha1Hex } from './timemachine.js';
import { fetchTimeMachineText, loadCorpusTimeMachine, loadDataTimeMachine } from './timemachine-browser.js';
import { TIME_MACHINE_TEXT } from './shipped/timemachine.generated.js';

describe('The Time Machine shipped with @rnnkit/data', () => {
  it("is d2l's file byte for byte (SHA-1 090b5e7e...)", async () => {
    expect(TIME_MACHINE_SHA1).toBe('090b5e7e70c295757f55df93cb0a180b9691891a');
    expect(await sha1Hex(TIME_MACHINE_TEXT)).toBe(TIME_MACHINE_SHA1);
    expect(new TextEncoder().encode(TIME_MACHINE_TEXT).length).toBe(178979);
  });

  it('detects a changed byte (the check can fail)', async () => {
    expect(await sha1Hex(`${TIME_MACHINE_TEXT.slice(0, -1)}!`)).not.toBe(TIME_MACHINE_SHA1);
  });

  it('is the default source without a file system or network', async () => {
    const got = await fetchTimeMachineText();
    expect(got.origin).toBe('shipped');
    const { corpus, vocab } = await loadCorpusTimeMachine();
    expect(corpus.length).toBe(170580);
    expect(vocab.size).toBe(28);
    const { loader } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: 1 });
    expect([...loader].length).toBe(8);
  });
});
