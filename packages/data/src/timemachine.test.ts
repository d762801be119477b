import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TIME_MACHINE_ENV, TIME_MACHINE_MODULE, corpusFromLines, corpusFromText } from './timemachine.js';
import { corpusData } from './timemachine-loaders.js';
import { fetchTimeMachineText, loadCorpusTimeMachine, loadDataTimeMachine, readTimeMachine, readTextFile } from './timemachine-node.js';
import * as browser from './timemachine-browser.js';
import { SeqDataLoader, splitCorpus } from './seqdata.js';
import { TIME_MACHINE_TEXT } from './shipped/timemachine.generated.js';
import { serveFiles } from './test-server.js';

describe('The Time Machine (the real file)', () => {
  it('is the copy shipped with the package when no file, variable or cache says otherwise', async () => {
    const got = await fetchTimeMachineText({ env: {}, cacheDir: join(tmpdir(), 'rnnkit-no-cache-here') });
    expect(got.origin).toBe('shipped');
    expect(got.file).toBe(TIME_MACHINE_MODULE);
    expect(got.text).toBe(TIME_MACHINE_TEXT);
  });

  it("gives d2l's known values: 170,580 characters, 28 tokens in d2l's order", async () => {
    const { corpus, vocab } = await loadCorpusTimeMachine();
    expect(corpus.length).toBe(170580);
    expect(vocab.size).toBe(28);
    expect(vocab.idxToToken.join('|')).toBe(['<unk>', ' ', ...'etainoshrdlmucfwgypbvkxzjq'].join('|'));
    const lines = await readTimeMachine();
    expect(lines[0]).toBe('the time machine by h g wells');
  });

  it("keeps the first maxTokens characters with the full book's vocabulary", async () => {
    const { corpus, vocab } = await loadCorpusTimeMachine({ maxTokens: 10000 });
    expect(corpus.length).toBe(10000);
    expect(vocab.size).toBe(28);
    expect(vocab.tokensOf(corpus.subarray(0, 16)).join('')).toBe('the time machine');
  });

  it('gives 8 minibatches of 32 x 35 per epoch with maxTokens 10000, both iterations', async () => {
    for (const useRandomIter of [false, true]) {
      const { loader } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, useRandomIter, maxTokens: 10000, seed: 1 });
      for (let epoch = 0; epoch < 5; epoch++) {
        const batches = [...loader];
        expect(batches.length).toBe(8);
        expect(batches[0]?.X.length).toBe(32 * 35);
      }
    }
  });

  it('corpusData makes of any corpus what loadDataTimeMachine makes of the book, split given or not', async () => {
    const options = { batchSize: 4, numSteps: 5, maxTokens: 2000, valFraction: 0.1, seed: 3 };
    const book = await loadDataTimeMachine(options);
    const loaded = corpusFromText(TIME_MACHINE_TEXT, { maxTokens: 2000 });
    for (const data of [corpusData(loaded, options), corpusData(loaded, options, splitCorpus(loaded.corpus, 0.1))]) {
      expect([...data.loader]).toEqual([...book.loader]);
      expect(data.validation).toEqual(book.validation);
      expect({ ...data, loader: null }).toEqual({ ...book, loader: null });
    }
    expect(corpusData(loaded, { batchSize: 4, numSteps: 5 }).validation).toBeUndefined();
  });

  it('builds word corpora too', async () => {
    const lines = await readTimeMachine();
    const { corpus, vocab } = corpusFromLines(lines, { tokens: 'word' });
    expect(vocab.idxToToken.slice(1, 4)).toEqual(['the', 'i', 'and']);
    expect(corpus.length).toBe(32775);
  });
});

describe('reading errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rnnkit-tm-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names a missing file and how to pass one', async () => {
    const missing = join(dir, 'nope.txt');
    const name = missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // A path of the caller's: check it. The environment variable's file: how to pass the book.
    await expect(fetchTimeMachineText({ path: missing })).rejects.toThrow(new RegExp(`${name} does not exist\\. Check the path`));
    await expect(fetchTimeMachineText({ env: { [TIME_MACHINE_ENV]: missing } })).rejects.toThrow(new RegExp(`${name} does not exist.*${TIME_MACHINE_ENV}=`));
    await expect(readTextFile(dir)).rejects.toThrow(/is a folder/);
  });

  it('a corpus read from a path carries the SHA-256 and size of the bytes it was made of', async () => {
    const file = join(dir, 'own.txt');
    const bytes = new TextEncoder().encode('Ünïcode text\nover two lines\n');
    await writeFile(file, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect((await fetchTimeMachineText({ path: file })).fileIdentity).toEqual({ sha256, bytes: bytes.length });
    const data = await loadDataTimeMachine({ batchSize: 1, numSteps: 2, maxTokens: 0, source: { path: file } });
    expect(data.fileIdentity).toEqual({ sha256, bytes: bytes.length });
    // The book from the package or the environment is not a file the caller chose.
    expect((await loadCorpusTimeMachine()).fileIdentity).toBeUndefined();
  });

  it('names an empty file', async () => {
    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '  \n');
    await expect(fetchTimeMachineText({ path: empty })).rejects.toThrow(/empty\.txt is empty/);
    await expect(loadCorpusTimeMachine({ source: { env: { [TIME_MACHINE_ENV]: empty } } })).rejects.toThrow(/is empty/);
  });

  it('refuses a text with no letters', () => {
    expect(() => corpusFromLines(['', ''])).toThrow(/no tokens/);
  });
});

describe('download and cache', () => {
  let server: Awaited<ReturnType<typeof serveFiles>>;
  let base: string;
  let book: Buffer;
  let hits = 0;
  let dir: string;
  let realFile: string;

  beforeAll(async () => {
    book = Buffer.from(TIME_MACHINE_TEXT, 'utf8');
    dir = await mkdtemp(join(tmpdir(), 'rnnkit-cache-'));
    realFile = join(dir, 'timemachine.txt');
    await writeFile(realFile, book);
    server = await serveFiles({ '/timemachine.txt': book, '/corrupt.txt': Buffer.concat([book.subarray(0, 1000), Buffer.from('tampered')]) }, () => hits++);
    base = server.base;
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads, checks the SHA-1, caches, then reads the cache without the network', async () => {
    const cacheDir = join(dir, 'ok');
    const first = await fetchTimeMachineText({ env: {}, cacheDir, url: `${base}/timemachine.txt` });
    expect(first.origin).toBe('download');
    expect(first.text.length).toBe(book.toString('utf8').length);
    expect(await readdir(cacheDir)).toEqual(['timemachine.txt']);
    const before = hits;
    const second = await fetchTimeMachineText({ env: {}, cacheDir, url: `${base}/timemachine.txt` });
    expect(second.origin).toBe('cache');
    expect(hits).toBe(before);
  });

  it('uses XDG_CACHE_HOME for the default cache', async () => {
    const xdg = join(dir, 'xdg');
    const got = await fetchTimeMachineText({ env: { XDG_CACHE_HOME: xdg }, url: `${base}/timemachine.txt` });
    expect(got.file).toBe(join(xdg, 'rnnkit', 'timemachine.txt'));
  });

  it('rejects a corrupt download and leaves nothing in the cache', async () => {
    const cacheDir = join(dir, 'corrupt');
    await expect(fetchTimeMachineText({ env: {}, cacheDir, url: `${base}/corrupt.txt` })).rejects.toThrow(
      /corrupt\.txt has SHA-1 [0-9a-f]{40}, not the expected 090b5e7e.*nothing was cached/,
    );
    await expect(readdir(cacheDir)).rejects.toThrow();
  });

  it('reports a 404 with the URL and how to pass a local copy', async () => {
    const cacheDir = join(dir, 'missing');
    await expect(fetchTimeMachineText({ env: {}, cacheDir, url: `${base}/gone.txt` })).rejects.toThrow(/gone\.txt: HTTP 404.*RNNKIT_TIMEMACHINE/);
  });

  it('reports an unreachable server', async () => {
    await expect(fetchTimeMachineText({ env: {}, cacheDir: join(dir, 'down'), url: 'http://127.0.0.1:9/timemachine.txt' })).rejects.toThrow(
      /Could not download The Time Machine from http:\/\/127\.0\.0\.1:9/,
    );
  });

  it('replaces a corrupt cache file with a good download', async () => {
    const cacheDir = join(dir, 'stale');
    await fetchTimeMachineText({ env: {}, cacheDir, url: `${base}/timemachine.txt` });
    await writeFile(join(cacheDir, 'timemachine.txt'), 'half a file');
    const got = await fetchTimeMachineText({ env: {}, cacheDir, url: `${base}/timemachine.txt` });
    expect(got.origin).toBe('download');
    expect((await readFile(join(cacheDir, 'timemachine.txt'))).equals(book)).toBe(true);
  });

  it('fails clearly when downloading is off and nothing is cached', async () => {
    await expect(fetchTimeMachineText({ env: {}, cacheDir: join(dir, 'none'), download: false, shipped: false })).rejects.toThrow(
      /not in the cache.*downloading is off/,
    );
  });

  it('prefers an explicit path over the environment', async () => {
    const own = join(dir, 'own.txt');
    await writeFile(own, 'Hello World\n');
    const got = await fetchTimeMachineText({ path: own, env: { [TIME_MACHINE_ENV]: realFile } });
    expect(got.origin).toBe('path');
    const { loader } = await loadDataTimeMachine({
      batchSize: 1,
      numSteps: 2,
      source: { path: own },
    });
    expect(loader).toBeInstanceOf(SeqDataLoader);
  });

  it('reads RNNKIT_TIMEMACHINE before the shipped copy', async () => {
    const own = join(dir, 'env.txt');
    await writeFile(own, 'Hello World\n');
    const got = await fetchTimeMachineText({ env: { [TIME_MACHINE_ENV]: own } });
    expect(got).toEqual({ text: 'Hello World\n', origin: 'env', file: own });
  });

  it("downloads d2l's address only when asked for (download: true), else never touches the network", async () => {
    const before = hits;
    const got = await fetchTimeMachineText({ env: {}, cacheDir: join(dir, 'offline'), url: undefined });
    expect(got.origin).toBe('shipped');
    expect(hits).toBe(before);
  });

  it('in browsers (Web Crypto): downloads a URL with the SHA-1 check, else the shipped copy', async () => {
    const got = await browser.fetchTimeMachineText({ url: `${base}/timemachine.txt` });
    expect(got.origin).toBe('download');
    expect(got.text).toBe(TIME_MACHINE_TEXT);
    await expect(browser.fetchTimeMachineText({ url: `${base}/corrupt.txt` })).rejects.toThrow(
      /corrupt\.txt has SHA-1 [0-9a-f]{40}, not the expected 090b5e7e/,
    );
    await expect(browser.fetchTimeMachineText({ path: realFile })).rejects.toThrow(/needs Node.*\{ url \}/);
    await expect(browser.fetchTimeMachineText({ shipped: false })).rejects.toThrow(/shipped copy .* is off/);
    expect((await browser.fetchTimeMachineText()).origin).toBe('shipped');
  });
});
