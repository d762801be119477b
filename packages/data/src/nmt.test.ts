import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FRA_ENG_ENV,
  FRA_ENG_HEAD,
  buildArrayNmtTokens,
  fetchFraEngText,
  loadDataNmt,
  nmtSpecialIds,
  nmtVocab,
  preprocessNmt,
  readDataNmt,
  tokenizeNmt,
  Vocab,
} from './index.node.js';
import { sha1 } from './cache-node.js';
import { serveFiles } from './test-server.js';

// What d2l's own code gives on the same lines: test/fixtures/parity/encoder_decoder.py.
const d2l = JSON.parse(readFileSync(new URL('../../../test/fixtures/parity/nmt_pipeline.json', import.meta.url), 'utf8')) as {
  preprocessed_head: string;
  num_examples_600: {
    num_pairs: number;
    source_head: string[][];
    target_head: string[][];
    src_vocab_size: number;
    tgt_vocab_size: number;
    src_idx_to_token_head: string[];
    tgt_idx_to_token_head: string[];
    [steps: string]: unknown;
  };
  all_lines: { num_pairs: number; source_tail: string[][]; target_tail: string[][] };
};
type Rows = {
  src_rows_head: number[][];
  tgt_rows_head: number[][];
  src_rows_tail: number[][];
  tgt_rows_tail: number[][];
  src_valid_len: number[];
  tgt_valid_len: number[];
};
const rowsOf = (a: Int32Array, numSteps: number, rows: number[]) => rows.map((r) => Array.from(a.subarray(r * numSteps, (r + 1) * numSteps)));

describe('d2l 9.5 translation pipeline on the shipped first 1,000 lines', () => {
  it('ships exactly ../shared/data/fra-eng-head.txt', () => {
    expect(sha1(FRA_ENG_HEAD)).toBe('5ae82c0c6ae8ebbdab4524f4bb86c9eca6c54630');
    expect(FRA_ENG_HEAD.split('\n').filter((l) => l !== '')).toHaveLength(1000);
  });

  it('preprocess_nmt: non-breaking spaces, lower case, a space before ,.!? after a non-space', () => {
    expect(preprocessNmt(FRA_ENG_HEAD).slice(0, 75)).toBe(d2l.preprocessed_head);
    expect(preprocessNmt('Go.\tVa\u202f!\nWait,\u00a0Tom!')).toBe('go .\tva !\nwait , tom !');
    expect(preprocessNmt('Hi !')).toBe('hi !');
  });

  it("tokenize_nmt: word pairs, n examples keep n + 1 lines as d2l's code", () => {
    const text = preprocessNmt(FRA_ENG_HEAD);
    const { source, target } = tokenizeNmt(text, 600);
    const want = d2l.num_examples_600;
    expect(source).toHaveLength(want.num_pairs);
    expect(source.slice(0, 6)).toEqual(want.source_head);
    expect(target.slice(0, 6)).toEqual(want.target_head);
    const all = tokenizeNmt(text);
    expect(all.source).toHaveLength(d2l.all_lines.num_pairs);
    expect(all.source.slice(-2)).toEqual(d2l.all_lines.source_tail);
    expect(all.target.slice(-2)).toEqual(d2l.all_lines.target_tail);
    expect(tokenizeNmt('a b\tc\nno tab here\nx\ty\tz\n', 0).source).toEqual([['a', 'b']]);
  });

  it('tokenize_nmt makes no empty word where d2l makes one (punctuation first, two spaces, a space at an end)', () => {
    // d2l's preprocess_nmt puts a space before "!" after the tab: its tokenize_nmt gives ['', '!', '!', '!'].
    const text = preprocessNmt('...\t!!!\n?\t.\nhi  there \t salut\n');
    expect(text).toBe('. . .\t ! ! !\n ?\t .\nhi  there \t salut\n');
    const { source, target } = tokenizeNmt(text);
    expect(source).toEqual([['.', '.', '.'], ['?'], ['hi', 'there']]);
    expect(target).toEqual([['!', '!', '!'], ['.'], ['salut']]);
  });

  it('load_data_nmt: vocabularies (min_freq 2, <pad> <bos> <eos>), padded rows and valid lengths as d2l', () => {
    const want = d2l.num_examples_600;
    for (const numSteps of [8, 10]) {
      const data = loadDataNmt({ numSteps });
      expect(data.srcVocab.size).toBe(want.src_vocab_size);
      expect(data.tgtVocab.size).toBe(want.tgt_vocab_size);
      expect(data.srcVocab.idxToToken.slice(0, 20)).toEqual(want.src_idx_to_token_head);
      expect(data.tgtVocab.idxToToken.slice(0, 20)).toEqual(want.tgt_idx_to_token_head);
      const rows = want[`num_steps_${numSteps}`] as Rows;
      const n = data.src.rows;
      expect(n).toBe(want.num_pairs);
      expect(rowsOf(data.src.array, numSteps, [0, 1, 2, 3])).toEqual(rows.src_rows_head);
      expect(rowsOf(data.tgt.array, numSteps, [0, 1, 2, 3])).toEqual(rows.tgt_rows_head);
      expect(rowsOf(data.src.array, numSteps, [n - 2, n - 1])).toEqual(rows.src_rows_tail);
      expect(rowsOf(data.tgt.array, numSteps, [n - 2, n - 1])).toEqual(rows.tgt_rows_tail);
      expect(Array.from(data.src.validLen)).toEqual(rows.src_valid_len);
      expect(Array.from(data.tgt.validLen)).toEqual(rows.tgt_valid_len);
    }
  });

  it('build_array_nmt appends <eos>, truncates long lines and counts valid tokens', () => {
    const vocab = nmtVocab([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    const { pad, bos, eos } = nmtSpecialIds(vocab);
    expect([pad, bos, eos]).toEqual([1, 2, 3]);
    const out = buildArrayNmtTokens([['a'], ['a', 'b', 'zz', 'a']], vocab, 3);
    expect(Array.from(out.array)).toEqual([4, eos, pad, 4, 5, 0]);
    expect(Array.from(out.validLen)).toEqual([2, 3]);
    expect(() => nmtSpecialIds(new Vocab([['a']]))).toThrow(/no <pad>.*nmtVocab/);
  });

  it('rejects bad settings and text without pairs', () => {
    expect(() => loadDataNmt({ numSteps: 0 })).toThrow(/numSteps/);
    expect(() => loadDataNmt({ numSteps: 5, numExamples: -1 })).toThrow(/numExamples/);
    expect(() => loadDataNmt({ numSteps: 5, text: 'no tabs\nat all\n' })).toThrow(/source<TAB>target/);
  });
});

describe('read_data_nmt: download, SHA-1 and cache of fra-eng.zip', () => {
  const zip = zipSync({ 'fra-eng/_about.txt': strToU8('Tatoeba, CC-BY 2.0 FR'), 'fra-eng/fra.txt': strToU8(FRA_ENG_HEAD) });
  const zipSha1 = sha1(zip);
  let server: Awaited<ReturnType<typeof serveFiles>>;
  let base: string;
  let hits = 0;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rnnkit-nmt-'));
    server = await serveFiles({ '/fra-eng.zip': zip, '/corrupt.zip': zip.subarray(0, 100) }, () => hits++);
    base = server.base;
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads, checks the SHA-1, extracts fra.txt, caches, then reads the cache without the network', async () => {
    const cacheDir = join(dir, 'ok');
    const first = await fetchFraEngText({ env: {}, cacheDir, url: `${base}/fra-eng.zip`, sha1: zipSha1 });
    expect(first.origin).toBe('download');
    expect(first.text).toBe(FRA_ENG_HEAD);
    expect(await readdir(cacheDir)).toEqual(['fra-eng.zip']);
    const before = hits;
    expect(await readDataNmt({ env: {}, cacheDir, url: `${base}/fra-eng.zip`, sha1: zipSha1 })).toBe(FRA_ENG_HEAD);
    expect(hits).toBe(before);
  });

  it("rejects a download with another SHA-1 (d2l's by default) and caches nothing", async () => {
    const cacheDir = join(dir, 'bad');
    await expect(fetchFraEngText({ env: {}, cacheDir, url: `${base}/fra-eng.zip` })).rejects.toThrow(
      /has SHA-1 [0-9a-f]{40}, not the expected 94646ad1.*nothing was cached.*RNNKIT_FRA_ENG/,
    );
    await expect(readdir(cacheDir)).rejects.toThrow();
  });

  it('names a 404, an unreadable zip and an offline cache miss', async () => {
    await expect(fetchFraEngText({ env: {}, cacheDir: join(dir, 'x'), url: `${base}/gone.zip` })).rejects.toThrow(/gone\.zip: HTTP 404/);
    const corrupt = join(dir, 'corrupt.zip');
    await writeFile(corrupt, zip.subarray(0, 100));
    await expect(fetchFraEngText({ path: corrupt })).rejects.toThrow(/corrupt\.zip is not a readable zip file/);
    await expect(fetchFraEngText({ env: {}, cacheDir: join(dir, 'none'), download: false })).rejects.toThrow(/not in the cache.*downloading is off/);
  });

  it('reads a local fra.txt or zip from a path or RNNKIT_FRA_ENG', async () => {
    const txt = join(dir, 'fra.txt');
    const local = join(dir, 'fra-eng.zip');
    await writeFile(txt, 'Go.\tVa !\n');
    await writeFile(local, zip);
    expect((await fetchFraEngText({ path: txt })).text).toBe('Go.\tVa !\n');
    const fromEnv = await fetchFraEngText({ env: { [FRA_ENG_ENV]: local } });
    expect(fromEnv.origin).toBe('env');
    expect(fromEnv.text).toBe(FRA_ENG_HEAD);
    await expect(fetchFraEngText({ path: join(dir, 'missing.txt') })).rejects.toThrow(/does not exist/);
  });
});
