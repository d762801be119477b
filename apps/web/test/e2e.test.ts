import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greedyInOnnxRuntime } from '../../../packages/interop/test/ort-greedy.js';

const run = promisify(execFile);
const appDir = fileURLToPath(new URL('..', import.meta.url));
const cliBin = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const outputDir = join(appDir, 'test-output');
const CHROMIUM = process.env.RNNKIT_CHROMIUM ?? '/usr/bin/chromium';
const PREFIX = 'time traveller';
const LENGTH = 50;

let server: PreviewServer;
let browser: Browser;
let page: Page;
let baseUrl: string;
let work: string;
/** `rnnkit train`'s checkpoint, made once for the tests below. */
let cliCheckpoint: Promise<string>;

async function rnnkit(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliBin, ...args], { env: process.env, maxBuffer: 16 << 20 });
  return stdout;
}

/** `rnnkit generate`'s greedy continuation (its stdout is exactly the text). */
async function cliGenerate(checkpoint: string): Promise<string> {
  return (await rnnkit('generate', '--checkpoint', checkpoint, '--prefix', PREFIX, '--length', String(LENGTH), '--backend', 'wasm')).replace(/\n$/, '');
}

async function openPage(): Promise<void> {
  await page.goto(baseUrl);
  await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
}

async function idle(): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'empty', null, { timeout: 150_000 });
}

async function message(): Promise<{ kind: string; text: string }> {
  return page.evaluate(() => {
    const box = document.getElementById('message')!;
    return { kind: box.hidden ? 'none' : box.className, text: box.textContent ?? '' };
  });
}

async function pageGenerate(prefix = PREFIX, length = LENGTH): Promise<string> {
  await page.fill('#prefix', prefix);
  await page.fill('#length', String(length));
  await page.fill('#temperature', '');
  await page.fill('#top-k', '');
  await page.evaluate(() => (document.getElementById('generated')!.textContent = ''));
  await page.click('#generate');
  await page.waitForFunction(() => !(document.getElementById('generate') as HTMLButtonElement).disabled || !document.getElementById('message')!.hidden);
  await page.waitForFunction(() => (document.getElementById('stop-generate') as HTMLButtonElement).disabled);
  return (await page.textContent('#generated')) ?? '';
}

async function perplexities(): Promise<number[]> {
  return page.$$eval('#history tbody tr', (rows) => rows.map((r) => Number(r.children[1]!.textContent)));
}

beforeAll(async () => {
  if (!existsSync(cliBin)) throw new Error(`${cliBin} is missing: run pnpm build first.`);
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (or set RNNKIT_CHROMIUM).`);
  work = await mkdtemp(join(tmpdir(), 'rnnkit-web-e2e-'));
  await mkdir(outputDir, { recursive: true });
  // Small and quick (about 10 s), yet trained enough that its continuation is not all spaces;
  // started now, awaited by the tests that need it.
  cliCheckpoint = rnnkit(
    'train',
    '--epochs',
    '8',
    '--hidden',
    '32',
    '--max-tokens',
    '10000',
    '--optimizer',
    'adam',
    '--lr',
    '0.02',
    '--out',
    join(work, 'cli-run'),
    '--backend',
    'wasm',
    '--json',
  ).then(() => join(work, 'cli-run', 'checkpoint'));
  cliCheckpoint.catch(() => {});
  if (!existsSync(join(appDir, 'dist', 'index.html'))) await build({ root: appDir, logLevel: 'warn' });
  server = await preview({ root: appDir, preview: { host: '127.0.0.1', port: 0, strictPort: false }, logLevel: 'warn' });
  baseUrl = server.resolvedUrls!.local[0]!;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await openPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the char-LM page in Chromium', () => {
  it('runs on the wasm backend with cross-origin isolation', async () => {
    const info = (await page.textContent('#backend-info')) ?? '';
    expect(info).toContain('backend wasm');
    expect(info).toContain('cross-origin isolated');
    expect(info).not.toContain('not cross-origin isolated');
  });

  it('trains a small GRU for a few epochs and the shown perplexity falls; Stop and Continue work', async () => {
    await page.selectOption('#cell', 'gru');
    await page.fill('#hidden', '64');
    await page.fill('#epochs', '6');
    await page.fill('#max-tokens', '10000');
    await page.fill('#sample-every', '2');
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await idle();
    expect(await message()).toEqual({ kind: 'none', text: expect.any(String) });
    const shown = await perplexities();
    expect(shown).toHaveLength(6);
    expect(shown.at(-1)!).toBeLessThan(shown[0]! * 0.85);
    expect(await page.textContent('#perplexity')).toBe(shown.at(-1)!.toFixed(2));
    expect(Number((await page.textContent('#speed'))!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(await page.$$eval('#samples li', (l) => l.length)).toBe(3);
    expect(await page.$$('#chart svg')).not.toHaveLength(0);

    // Continue towards 30 epochs (more than a quiet machine finishes before the click), Stop
    // during it: the run ends early and says so; Continue finishes it.
    await page.fill('#epochs', '30');
    await page.click('#continue');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await page.click('#stop');
    await idle();
    const stopped = (await perplexities()).length;
    expect(stopped).toBeLessThan(30);
    expect((await message()).text).toMatch(/Stopped at epoch \d+ of 30/);
    await page.click('#continue');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await idle();
    const continued = await perplexities();
    expect(continued).toHaveLength(30);
    // The stop undid the epoch it came inside: the same 30 epochs trained again without one give
    // the same figures (the same model, whatever minibatch the click landed on).
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await idle();
    expect(await perplexities()).toEqual(continued);

    // The prefix is read as the training text was, as rnnkit generate reads it: d2l's a-z, lower-cased.
    expect(await pageGenerate('Time Traveller!')).toMatch(/^time traveller ./);
    expect(await page.isHidden('#unknown-note')).toBe(true);
    expect(await pageGenerate()).toMatch(/^time traveller./);
    await page.waitForSelector('#chart[data-epochs="30"]');
    await page.screenshot({ path: join(outputDir, 'web-trained.png'), fullPage: true });
  });

  it('downloads a checkpoint that rnnkit generate reads, with the same greedy continuation', async () => {
    const expected = await pageGenerate();
    const dir = join(work, 'downloaded');
    await mkdir(dir);
    const downloads: Promise<unknown>[] = [];
    const seen = new Promise<void>((resolve) => {
      page.on('download', (d) => {
        downloads.push(d.saveAs(join(dir, d.suggestedFilename())));
        if (downloads.length === 4) resolve();
      });
    });
    await page.click('#download');
    await seen;
    await Promise.all(downloads);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'weights.bin']);
    expect(await page.textContent('#download-links')).toContain('(put these 4 files in one folder: rnnkit generate --checkpoint FOLDER reads it');
    const cli = await cliGenerate(dir);
    console.log(`page -> rnnkit generate:\n  page: ${JSON.stringify(expected)}\n  cli:  ${JSON.stringify(cli)}`);
    expect(cli).toBe(expected);
    expect(cli.slice(PREFIX.length).trim()).not.toBe('');
    // With the optimizer files and the training record, rnnkit train goes on from the page's run.
    const resumed = JSON.parse(
      (await rnnkit('train', '--resume', dir, '--epochs', '31', '--out', join(work, 'resumed'), '--backend', 'wasm', '--json')).trim().split('\n').at(-1)!,
    );
    expect(resumed).toMatchObject({ event: 'done', epochsDone: 31, interrupted: false });
  });

  it('saves to IndexedDB, and after a reload loads it back and generates the same text', async () => {
    const before = await pageGenerate();
    await page.click('#save-idb');
    await page.waitForFunction(() => (document.getElementById('message')!.textContent ?? '').includes('Saved in this browser'));
    await openPage();
    expect(await page.textContent('#model-info')).toBe('none yet');
    await page.waitForFunction(() => !(document.getElementById('load-idb') as HTMLButtonElement).disabled);
    await page.click('#load-idb');
    await idle();
    expect((await message()).kind).toBe('info');
    expect(await pageGenerate()).toBe(before);
    expect(await perplexities()).toHaveLength(30);
  });

  it('loads a checkpoint written by rnnkit train and continues "time traveller" exactly as rnnkit generate does', async () => {
    const dir = await cliCheckpoint;
    const cli = await cliGenerate(dir);
    // model.json alone: the page says which files to choose together (nothing is damaged).
    await page.setInputFiles('#checkpoint-files', [join(dir, 'model.json')]);
    await page.waitForFunction(() => !document.getElementById('message')!.hidden);
    expect(await message()).toMatchObject({
      kind: 'error',
      text: expect.stringContaining('weights.bin was not among the chosen files: choose model.json and weights.bin together'),
    });
    expect((await message()).text).not.toMatch(/corrupt/i);
    await page.setInputFiles('#checkpoint-files', [join(dir, 'model.json'), join(dir, 'weights.bin')]);
    await idle();
    expect(await message()).toMatchObject({ kind: 'info' });
    expect(await page.textContent('#model-info')).toContain('GRU 32');
    const shown = await pageGenerate();
    console.log(`rnnkit train -> page:\n  cli:  ${JSON.stringify(cli)}\n  page: ${JSON.stringify(shown)}`);
    expect(shown).toBe(cli);
    expect(cli.slice(PREFIX.length).trim()).not.toBe('');

    // The same checkpoint from a URL (another origin, with CORS).
    const files = new Map([
      ['/run/model.json', await readFile(join(dir, 'model.json'))],
      ['/run/weights.bin', await readFile(join(dir, 'weights.bin'))],
    ]);
    const host: Server = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      res.writeHead(body ? 200 : 404, { 'Access-Control-Allow-Origin': '*' });
      res.end(body);
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    try {
      const { port } = host.address() as { port: number };
      await page.fill('#checkpoint-url', `http://127.0.0.1:${port}/run/`);
      await page.click('#load-url');
      await idle();
      expect(await message()).toMatchObject({ kind: 'info' });
      expect(await pageGenerate()).toBe(cli);
    } finally {
      host.close();
    }
  });

  it("loads d2l's PyTorch GRU (safetensors + vocab.json), continues as PyTorch's predict_ch8, and its ONNX download runs in ONNX Runtime to the same text", async () => {
    const fixtures = fileURLToPath(new URL('../../../test/fixtures/interop/', import.meta.url));
    const fx = JSON.parse(await readFile(join(fixtures, 'gru.json'), 'utf8')) as { greedy: string; num_preds: number };
    // Without its vocab.json, the page says what it needs.
    await page.setInputFiles('#pytorch-files', [join(fixtures, 'gru.safetensors')]);
    await idle();
    expect(await message()).toMatchObject({ kind: 'error', text: expect.stringContaining("gru.safetensors's model has 14 tokens: choose its vocab.json") });
    await page.setInputFiles('#pytorch-files', [join(fixtures, 'gru.safetensors'), join(fixtures, 'gru.vocab.json')]);
    await idle();
    expect(await message()).toMatchObject({
      kind: 'info',
      text: expect.stringContaining(
        "Loaded gru.safetensors (safetensors): GRU (PyTorch's reset-after), 1 layer, 8 hidden, vocabulary 14, vocabulary from gru.vocab.json",
      ),
    });
    const shown = await pageGenerate(PREFIX, fx.num_preds);
    console.log(`PyTorch -> page:\n  PyTorch: ${JSON.stringify(fx.greedy)}\n  page:    ${JSON.stringify(shown)}`);
    expect(shown).toBe(fx.greedy);
    await page.screenshot({ path: join(outputDir, 'web-pytorch.png'), fullPage: true });

    const dir = join(work, 'onnx');
    await mkdir(dir);
    const saved: Promise<unknown>[] = [];
    const both = new Promise<void>((resolve) => {
      const onDownload = (d: import('playwright-core').Download) => {
        saved.push(d.saveAs(join(dir, d.suggestedFilename())));
        if (saved.length === 2) {
          page.off('download', onDownload);
          resolve();
        }
      };
      page.on('download', onDownload);
    });
    await page.click('#download-onnx');
    await both;
    await Promise.all(saved);
    expect((await readdir(dir)).sort()).toEqual(['model.onnx', 'vocab.json']);
    const vocab = JSON.parse(await readFile(join(dir, 'vocab.json'), 'utf8')) as string[];
    expect(await greedyInOnnxRuntime(join(dir, 'model.onnx'), vocab, PREFIX, fx.num_preds)).toBe(shown);
  });

  it('shows clear errors for bad checkpoints and corpora, and keeps working', async () => {
    const bad = join(work, 'bad');
    await mkdir(bad);
    const dir = await cliCheckpoint;
    const good = await pageGenerate();
    const tryLoad = async (files: string[]) => {
      await page.setInputFiles('#checkpoint-files', files);
      await idle();
      return message();
    };
    // Not JSON.
    await writeFile(join(bad, 'model.json'), '{"format": "rnnkit-check');
    await writeFile(join(bad, 'weights.bin'), new Uint8Array(16));
    expect(await tryLoad([join(bad, 'model.json'), join(bad, 'weights.bin')])).toEqual({
      kind: 'error',
      text: expect.stringMatching(/Corrupt checkpoint: model.json is not valid JSON/),
    });
    // Truncated weights.
    await writeFile(join(bad, 'model.json'), await readFile(join(dir, 'model.json')));
    await writeFile(join(bad, 'weights.bin'), (await readFile(join(dir, 'weights.bin'))).subarray(0, 1000));
    expect(await tryLoad([join(bad, 'model.json'), join(bad, 'weights.bin')])).toEqual({ kind: 'error', text: expect.stringMatching(/Corrupt checkpoint/) });
    // A checkpoint of another kind.
    const other = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    other.userDefinedMetadata.rnnkit.kind = 'seq2seq';
    await writeFile(join(bad, 'model.json'), JSON.stringify(other));
    await writeFile(join(bad, 'weights.bin'), await readFile(join(dir, 'weights.bin')));
    expect(await tryLoad([join(bad, 'model.json'), join(bad, 'weights.bin')])).toEqual({
      kind: 'error',
      text: expect.stringMatching(/holds "seq2seq", not a language model/),
    });
    // Another TensorFlow.js model.
    await writeFile(
      join(bad, 'model.json'),
      JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: ['weights.bin'], weights: [] }] }),
    );
    expect(await tryLoad([join(bad, 'model.json'), join(bad, 'weights.bin')])).toEqual({
      kind: 'error',
      text: expect.stringMatching(/is not an rnnkit checkpoint/),
    });
    // Still the model from before.
    expect(await pageGenerate()).toBe(good);

    const tryCorpus = async (name: string, bytes: Uint8Array) => {
      await page.setInputFiles('#corpus-file', { name, mimeType: 'text/plain', buffer: Buffer.from(bytes) });
      await page.fill('#epochs', '1');
      await page.fill('#max-tokens', '10000');
      await page.click('#train');
      await page.waitForFunction(() => !document.getElementById('message')!.hidden);
      await idle();
      return message();
    };
    expect(await tryCorpus('empty.txt', new Uint8Array(0))).toEqual({ kind: 'error', text: expect.stringMatching(/empty.txt is empty/) });
    expect(await tryCorpus('image.txt', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 0xff, 0xfe]))).toEqual({
      kind: 'error',
      text: expect.stringMatching(/image.txt is not a UTF-8 text file/),
    });
    expect(await tryCorpus('short.txt', new TextEncoder().encode('The Time Traveller (for so it will be convenient to speak of him).\n'))).toEqual({
      kind: 'error',
      text: expect.stringMatching(/short.txt is too short to train on: .* needs at least 1155/),
    });
    expect(await pageGenerate()).toBe(good);
  });
});
