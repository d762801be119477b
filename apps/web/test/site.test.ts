import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built site on a plain static host, as GitHub Pages serves a project: under a sub-path, with
// no Cross-Origin-Opener-Policy / -Embedder-Policy headers (so not cross-origin isolated); then
// one's own text on it: each text encoding with the same continuations as `rnnkit generate`,
// validation on the chart, Continue after choosing the same file again, streamed generation.

const run = promisify(execFile);
const appDir = fileURLToPath(new URL('..', import.meta.url));
const cliBin = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const outputDir = join(appDir, 'test-output');
const CHROMIUM = process.env.RNNKIT_CHROMIUM ?? '/usr/bin/chromium';
const SUB_PATH = '/rnnkit/demo/';
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

let dist: string;
let work: string;
/** Many short lines, as a poem or a licence; mixed case and punctuation. */
const POEM = ['The quick brown fox', 'jumps over the lazy dog.', 'Then the dog sleeps;', 'the fox runs home.', ''].join('\n').repeat(24);
/** The text encodings, each with a prefix in mixed case, and `rnnkit train`'s checkpoint of each (made in beforeAll). */
const CASES = [
  { preprocess: 'd2l', tokens: 'char', prefix: 'The Quick' },
  { preprocess: 'letters', tokens: 'char', prefix: 'The Quick' },
  { preprocess: 'raw', tokens: 'char', prefix: 'lazy dog.\nThen' },
  { preprocess: 'd2l', tokens: 'word', prefix: 'The Fox' },
  { preprocess: 'raw', tokens: 'word', prefix: 'sleeps;\nthe' },
] as const;
let cliCheckpoints: Promise<string[]>;

async function rnnkit(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliBin, ...args], { cwd: work, maxBuffer: 16 << 20 });
  return stdout;
}
let server: Server;
let base: string;
let browser: Browser;
const requested: string[] = [];

/** Serves `dist` under SUB_PATH only; everything else (the root's /assets/... included) is a 404. */
function staticHost(root: string): Server {
  return createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requested.push(path);
    if (!path.startsWith(SUB_PATH)) {
      res.writeHead(404).end();
      return;
    }
    const file = normalize(join(root, path.slice(SUB_PATH.length) || 'index.html'));
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
}

async function newPage(): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  return page;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (or set RNNKIT_CHROMIUM).`);
  if (!existsSync(cliBin)) throw new Error(`${cliBin} is missing: run pnpm build first.`);
  work = await mkdtemp(join(tmpdir(), 'rnnkit-web-own-'));
  await writeFile(join(work, 'poem.txt'), POEM);
  // rnnkit train's checkpoints of each encoding, made while the site builds.
  const tiny = ['--hidden', '16', '--batch-size', '4', '--num-steps', '8', '--max-tokens', '0', '--epochs', '2', '--backend', 'wasm'];
  cliCheckpoints = Promise.all(
    CASES.map(async (c, i) => {
      await rnnkit('train', ...tiny, '--corpus', 'poem.txt', '--preprocess', c.preprocess, '--tokens', c.tokens, '--out', `case-${i}`, '--json');
      return join(work, `case-${i}`, 'checkpoint');
    }),
  );
  cliCheckpoints.catch(() => {});
  dist = await mkdtemp(join(tmpdir(), 'rnnkit-web-dist-'));
  await mkdir(outputDir, { recursive: true });
  // The site as `pnpm --filter @rnnkit/web build` makes it (default settings), into a folder of its own.
  await build({ root: appDir, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true } });
  server = staticHost(dist);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}${SUB_PATH}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dist) await rm(dist, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the built site under a sub-path of a plain static host', () => {
  it('starts, trains and generates with relative asset paths and no cross-origin isolation', async () => {
    const page = await newPage();
    const warnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'warning' || m.type() === 'error') warnings.push(m.text());
    });
    await page.goto(base);
    await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    const info = (await page.textContent('#backend-info')) ?? '';
    expect(info).toContain('backend wasm');
    expect(info).toContain('not cross-origin isolated');
    await page.fill('#hidden', '16');
    await page.fill('#epochs', '2');
    await page.fill('#max-tokens', '2000');
    await page.click('#train');
    // Two epochs of 2,000 characters can end between two polls: wait for their result, not for the 'training' state.
    await page.waitForFunction(
      () =>
        (document.body.dataset.state === 'ready' && document.getElementById('epoch')!.textContent === '2 / 2') || !document.getElementById('message')!.hidden,
      null,
      { timeout: 120_000 },
    );
    expect(await page.isHidden('#message'), (await page.textContent('#message')) ?? '').toBe(true);
    await page.fill('#prefix', 'time traveller');
    await page.fill('#length', '30');
    await page.click('#generate');
    await page.waitForFunction(() => (document.getElementById('generated')!.textContent ?? '').length >= 'time traveller'.length + 30);
    expect(await page.textContent('#generated')).toMatch(/^time traveller.{30}$/s);
    await page.waitForSelector('#chart[data-epochs="2"]');
    await page.screenshot({ path: join(outputDir, 'web-subpath.png'), fullPage: true });
    // Every request stayed under the sub-path, and the console holds no warning (Vega-Lite's version ones included).
    expect(requested.filter((p) => !p.startsWith(SUB_PATH))).toEqual([]);
    expect(warnings).toEqual([]);
    await page.context().close();
  });

  it('says the backend could not start when its .wasm files do not load, instead of "Starting…" for ever', async () => {
    const page = await newPage();
    await page.route('**/*.wasm', (route) => route.abort());
    await page.goto(base);
    await page.waitForFunction(() => !document.getElementById('message')!.hidden, null, { timeout: 90_000 });
    expect(await page.textContent('#backend-info')).toBe('The wasm backend could not start.');
    expect(await page.getAttribute('#message', 'class')).toBe('error');
    expect(await page.isDisabled('#train')).toBe(true);
    await page.context().close();
  });

  it('says so when the training worker itself does not load', async () => {
    const page = await newPage();
    await page.route('**/assets/worker-*.js', (route) => route.fulfill({ status: 404, body: '' }));
    await page.goto(base);
    await page.waitForFunction(() => !document.getElementById('message')!.hidden, null, { timeout: 30_000 });
    expect(await page.textContent('#message')).toMatch(/The training worker failed: its script did not load/);
    expect(await page.textContent('#backend-info')).toBe('The wasm backend could not start.');
    await page.context().close();
  });
});

describe("one's own text on the page", () => {
  let page: Page;
  const idle = () => page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'empty', null, { timeout: 150_000 });
  const message = () =>
    page.evaluate(() => {
      const box = document.getElementById('message')!;
      return { kind: box.hidden ? 'none' : box.className, text: box.textContent ?? '' };
    });
  async function pageGenerate(prefix: string, length: number): Promise<string> {
    await page.fill('#prefix', prefix);
    await page.fill('#length', String(length));
    await page.click('#generate');
    await page.waitForFunction(() => (document.getElementById('stop-generate') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    return (await page.textContent('#generated')) ?? '';
  }
  const poemFile = (name = 'poem.txt', text = POEM) => ({ name, mimeType: 'text/plain', buffer: Buffer.from(text) });

  beforeAll(async () => {
    page = await newPage();
    await page.goto(base);
    await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
  });
  afterAll(() => page?.context().close());

  it('continues a prefix exactly as rnnkit generate does, for each preprocessing and token kind', async () => {
    const dirs = await cliCheckpoints;
    for (const [i, c] of CASES.entries()) {
      const dir = dirs[i] as string;
      const cli = (await rnnkit('generate', '--checkpoint', dir, '--prefix', c.prefix, '--length', '30', '--backend', 'wasm')).replace(/\n$/, '');
      await page.setInputFiles('#checkpoint-files', [join(dir, 'model.json'), join(dir, 'weights.bin')]);
      await idle();
      expect(await message(), `${c.preprocess} ${c.tokens}`).toMatchObject({ kind: 'info' });
      const shown = await pageGenerate(c.prefix, 30);
      expect(shown, `${c.preprocess} ${c.tokens}`).toBe(cli);
      // Both read the prefix as the training text was: lower-cased under d2l and letters, as it is under raw.
      expect(shown.startsWith(c.preprocess === 'raw' ? c.prefix : c.prefix.toLowerCase().replace('\n', c.preprocess === 'letters' ? ' ' : ''))).toBe(true);
      expect(await page.isHidden('#unknown-note')).toBe(true);
    }
  });

  it('trains on a file with validation: two lines on the chart, samples from the file, Continue after choosing it again', async () => {
    const text = `${POEM}${'A short line of its own,\nanother one below it.\n'.repeat(40)}`;
    await page.setInputFiles('#corpus-file', poemFile('lines.txt', text));
    await page.selectOption('#preprocess', 'raw');
    await page.selectOption('#tokens', 'char');
    await page.fill('#hidden', '32');
    await page.fill('#epochs', '6');
    await page.fill('#max-tokens', '0');
    await page.fill('#val-percent', '10');
    await page.fill('#patience', '');
    await page.fill('#sample-every', '2');
    await page.fill('#sample-prefix', '');
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await idle();
    expect((await message()).kind).not.toBe('error');
    expect(await page.textContent('#corpus-info')).toMatch(
      /lines\.txt: all [\d,]+ characters used, the last [\d,]+ held out for validation; .*Samples continue "The quick"/,
    );
    expect(await page.textContent('#samples-prefix')).toBe('"The quick"');
    const validation = await page.$$eval('#history tbody tr', (rows) => rows.map((r) => Number(r.children[4]!.textContent)));
    expect(validation).toHaveLength(6);
    expect(validation.every((v) => v > 1)).toBe(true);
    await page.waitForSelector('#chart[data-epochs="6"]');
    expect(await page.textContent('#chart svg')).toContain('validation');
    expect(await page.textContent('#chart svg')).toContain('fused GRU 32: perplexity');
    expect(await page.$$eval('#samples li', (l) => l.map((li) => li.textContent ?? ''))).toSatisfy((l: string[]) => l.every((t) => t.includes('The quick')));
    await page.screenshot({ path: join(outputDir, 'web-validation.png'), fullPage: true });

    // Saved, reloaded: the model generates but needs its text to train on; the same file (by SHA-256) brings Continue back.
    await page.click('#save-idb');
    await page.waitForFunction(() => (document.getElementById('message')!.textContent ?? '').includes('Saved in this browser'));
    await page.reload();
    await page.waitForFunction(() => !(document.getElementById('load-idb') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    await page.click('#load-idb');
    await idle();
    expect(await page.textContent('#model-info')).toContain('choose lines.txt again to train on');
    expect(await page.isDisabled('#continue')).toBe(true);
    await page.setInputFiles('#corpus-file', poemFile('other.txt', `${text}!`));
    await page.waitForFunction(() => !document.getElementById('message')!.hidden && document.getElementById('message')!.className === 'error');
    expect((await message()).text).toMatch(
      /other\.txt is not the text this model trained on: its SHA-256 is [0-9a-f]{64}, the checkpoint's corpus \(lines\.txt\) has [0-9a-f]{64}/,
    );
    expect(await page.isDisabled('#continue')).toBe(true);
    await page.setInputFiles('#corpus-file', poemFile('copy-of-lines.txt', text));
    await page.waitForFunction(() => document.getElementById('message')!.className === 'info');
    expect((await message()).text).toMatch(/copy-of-lines\.txt is the text this model trained on \(same SHA-256\): Continue trains it on from epoch 6/);
    await page.fill('#epochs', '8');
    await page.click('#continue');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await idle();
    expect(await page.textContent('#epoch')).toBe('8 / 8');
    expect(await page.$$eval('#history tbody tr', (rows) => rows.length)).toBe(8);
  });

  it('generation streams: the text grows while it is made, and Stop ends it', async () => {
    await page.fill('#prefix', 'The');
    await page.fill('#length', '10000');
    await page.click('#generate');
    await page.waitForFunction(() => (document.getElementById('generated')!.textContent ?? '').length > 40, null, { timeout: 60_000 });
    expect(await page.isDisabled('#stop-generate')).toBe(false);
    await page.click('#stop-generate');
    await page.waitForFunction(() => (document.getElementById('stop-generate') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    const text = (await page.textContent('#generated')) ?? '';
    expect(text.startsWith('The')).toBe(true);
    expect(text.length).toBeLessThan(3 + 10000);
  });
});
