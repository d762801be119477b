// rnnkit import / rnnkit export, the built bin as a child process, on the PyTorch files of
// test/fixtures/interop (d2l's models saved by test/fixtures/parity/interop.py).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '@rnnkit/interop';
import { greedyInOnnxRuntime } from '../../../packages/interop/test/ort-greedy.js';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../test/fixtures/interop/', import.meta.url));
let dir: string;

function rnnkit(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args, '--backend', 'wasm'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const fixture = (name: string) => JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8')) as { greedy: string; num_preds: number; prefix: string };
const generate = (run: string, length: number) => rnnkit(['generate', '--checkpoint', run, '--length', String(length)]);

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-interop-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rnnkit import', () => {
  // (Every case and implementation: the library's tests. Here one file of each format.)
  it.each([
    ['gru.safetensors', 'gru', 'fused'],
    ['lstm_2layer.onnx', 'lstm_2layer', 'fused'],
  ])('%s: generate continues "time traveller" as PyTorch does, character for character', (file, name, implementation) => {
    const r = rnnkit(['import', join(fixtures, file), '--vocab', join(fixtures, `${name}.vocab.json`), '--out', `import-${name}`]);
    expect(r.stderr).toMatch(/The Time Machine gives another vocabulary than the model's/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`onto the ${implementation} implementation`);
    const fx = fixture(name);
    const g = generate(`import-${name}`, fx.num_preds);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.trim()).toBe(fx.greedy);
  });

  it('finds vocab.json beside the file, and says what it needs when there is none', () => {
    copyFileSync(join(fixtures, 'rnn.safetensors'), join(dir, 'rnn.safetensors'));
    const none = rnnkit(['import', 'rnn.safetensors', '--out', 'no-vocab']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/rnn\.safetensors's model has 14 tokens and no vocabulary beside it: give it with --vocab FILE/);
    copyFileSync(join(fixtures, 'rnn.vocab.json'), join(dir, 'vocab.json'));
    const beside = rnnkit(['import', 'rnn.safetensors', '--impl', 'scratch', '--out', 'beside']);
    expect(beside.code, beside.stderr).toBe(0);
    expect(beside.stdout).toContain('RNN, 1 layer, 8 hidden, vocabulary 14) onto the scratch implementation');
  });

  it('refuses what it cannot import exactly, naming the file and the reason', () => {
    writeFileSync(join(dir, 'notes.txt'), 'not a model at all');
    const junk = rnnkit(['import', 'notes.txt', '--out', 'junk']);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/notes\.txt: is neither safetensors .* nor ONNX/);
    const layers = rnnkit(['import', join(fixtures, 'gru.safetensors'), '--vocab', join(fixtures, 'gru.vocab.json'), '--impl', 'layers', '--out', 'layers']);
    expect(layers.code).toBe(2);
    expect(layers.stderr).toMatch(
      /--impl layers: this is PyTorch's GRU \(reset gate after the recurrent matmul\), which only the fused implementation computes/,
    );
    const bytes = readFileSync(join(fixtures, 'gru.safetensors'));
    writeFileSync(join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 10));
    const cut = rnnkit(['import', 'cut.safetensors', '--vocab', join(fixtures, 'gru.vocab.json'), '--out', 'cut']);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(
      /^rnnkit: cut\.safetensors: gives tensor "linear\.bias" bytes \d+-\d+ of the data, which holds \d+ bytes: the file is truncated or damaged\.$/m,
    );
    const wrongVocab = rnnkit(['import', join(fixtures, 'gru.safetensors'), '--vocab', join(fixtures, 'encoder_decoder.vocab.json'), '--out', 'wv']);
    expect(wrongVocab.stderr).toMatch(/encoder_decoder\.vocab\.json: is not a JSON array of tokens/);
    expect(existsSync(join(dir, 'cut', 'checkpoint'))).toBe(false);
  });
});

describe('rnnkit export', () => {
  it('safetensors: the state dict PyTorch saved, byte for byte in its values, with vocab.json beside it', () => {
    const r = rnnkit(['export', 'import-gru', '--format', 'safetensors', '--out', 'out/gru.safetensors']);
    expect(r.code, r.stderr).toBe(0);
    const mine = readSafetensors(new Uint8Array(readFileSync(join(dir, 'out', 'gru.safetensors'))), 'mine').tensors;
    const theirs = readSafetensors(new Uint8Array(readFileSync(join(fixtures, 'gru.safetensors'))), 'theirs').tensors;
    expect(Object.keys(mine).sort()).toEqual(Object.keys(theirs).sort());
    for (const [k, t] of Object.entries(theirs)) expect(Array.from(mine[k]!.data), k).toEqual(Array.from(t.data));
    expect(JSON.parse(readFileSync(join(dir, 'out', 'vocab.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(fixtures, 'gru.vocab.json'), 'utf8')));
  });

  it('onnx: ONNX Runtime continues the prefix greedily exactly as rnnkit generate does', async () => {
    const r = rnnkit(['export', 'import-lstm_2layer', '--format', 'onnx', '--out', 'out/lstm.onnx']);
    expect(r.code, r.stderr).toBe(0);
    const vocab = JSON.parse(readFileSync(join(dir, 'out', 'vocab.json'), 'utf8')) as string[];
    const text = await greedyInOnnxRuntime(join(dir, 'out', 'lstm.onnx'), vocab, 'time traveller', 30);
    expect(text).toBe(generate('import-lstm_2layer', 30).stdout.trim());
  });

  it("a translation model: safetensors with d2l's names and { src, tgt } vocab.json, and ONNX", () => {
    const imported = rnnkit(['import', join(fixtures, 'encoder_decoder.safetensors'), '--vocab', join(fixtures, 'encoder_decoder.vocab.json'), '--out', 'nmt']);
    expect(imported.code, imported.stderr).toBe(0);
    const r = rnnkit(['export', 'nmt', '--format', 'safetensors', '--out', 'nmt-out/model.safetensors']);
    expect(r.code, r.stderr).toBe(0);
    const mine = readSafetensors(new Uint8Array(readFileSync(join(dir, 'nmt-out', 'model.safetensors'))), 'mine').tensors;
    const theirs = readSafetensors(new Uint8Array(readFileSync(join(fixtures, 'encoder_decoder.safetensors'))), 'theirs').tensors;
    for (const [k, t] of Object.entries(theirs)) expect(Array.from(mine[k]!.data), k).toEqual(Array.from(t.data));
    expect(JSON.parse(readFileSync(join(dir, 'nmt-out', 'vocab.json'), 'utf8'))).toEqual(
      JSON.parse(readFileSync(join(fixtures, 'encoder_decoder.vocab.json'), 'utf8')),
    );
    const onnx = rnnkit(['export', 'nmt', '--format', 'onnx', '--out', 'nmt-out/model.onnx']);
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(readFileSync(join(dir, 'nmt-out', 'model.onnx')).length).toBeGreaterThan(1000);
  });
});

describe('rnnkit translate --checkpoint on an imported PyTorch encoder-decoder', () => {
  it("translates as d2l's predict_seq2seq does in PyTorch, with the model's num_steps given at import", () => {
    const fx = JSON.parse(readFileSync(join(fixtures, 'encoder_decoder.json'), 'utf8')) as { sources: number[][]; greedy: number[][]; eos: number };
    const vocab = JSON.parse(readFileSync(join(fixtures, 'encoder_decoder.vocab.json'), 'utf8')) as { src: string[]; tgt: string[] };
    const numSteps = fx.sources[0]!.length; // the generator pads its sources to 5 tokens
    const words = (ids: number[], v: string[], eos: number) =>
      ids
        .slice(0, ids.includes(eos) ? ids.indexOf(eos) : ids.length)
        .map((i) => v[i])
        .join(' ');
    const sentences = fx.sources.map((ids) => words(ids, vocab.src, fx.eos));
    const imported = rnnkit([
      'import',
      join(fixtures, 'encoder_decoder.safetensors'),
      '--vocab',
      join(fixtures, 'encoder_decoder.vocab.json'),
      '--out',
      'nmt5',
      '--num-steps',
      String(numSteps),
    ]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain(`num_steps ${numSteps}: sentences are read as ${numSteps} tokens`);
    const r = rnnkit(['translate', '--checkpoint', 'nmt5', '--held-out', '0', '--json', ...sentences.flatMap((s) => ['--sentence', s])]);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const done = events.at(-1) as { event: string; trained: boolean; sentences: { source: string; prediction: string }[] };
    expect(done.event).toBe('done');
    expect(done.trained).toBe(false);
    // PyTorch's greedy ids, cut to num_steps (predict_seq2seq's longest output) and at <eos>.
    expect(done.sentences.map((s) => s.prediction)).toEqual(fx.greedy.map((ids) => words(ids.slice(0, numSteps), vocab.tgt, fx.eos)));
    expect(events.filter((e) => e.event === 'epoch')).toHaveLength(0);
    const plain = rnnkit(['translate', '--checkpoint', 'nmt5', '--held-out', '0', '--sentence', sentences[0]!]);
    expect(plain.stdout).toMatch(/\(imported from encoder_decoder\.safetensors; num_steps 5\)/);
    // What cannot apply is refused, not ignored: a language model's flags at import, a training flag with --checkpoint.
    const lmFlags = rnnkit([
      'import',
      join(fixtures, 'encoder_decoder.safetensors'),
      '--vocab',
      join(fixtures, 'encoder_decoder.vocab.json'),
      '--out',
      'nmt-x',
      '--impl',
      'fused',
    ]);
    expect(lmFlags.code).toBe(2);
    expect(lmFlags.stderr).toMatch(
      /^rnnkit: --impl applies only to language models; encoder_decoder\.safetensors holds d2l's encoder-decoder: leave it out\.$/m,
    );
    const numStepsAgain = rnnkit(['translate', '--checkpoint', 'nmt5', '--num-steps', '10']);
    expect(numStepsAgain.code).toBe(2);
    expect(numStepsAgain.stderr).toMatch(/--checkpoint translates with a trained model .* --num-steps has no effect with it/);
  });
});
