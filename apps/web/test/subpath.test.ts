import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built site on a plain static host, as GitHub Pages serves a project: under a sub-path, with
// no Cross-Origin-Opener-Policy / -Embedder-Policy headers (so not cross-origin isolated).

const appDir = fileURLToPath(new URL('..', import.meta.url));
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
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
    await page.fill('#prefix', 'time traveller');
    await page.fill('#length', '30');
    await page.click('#generate');
    await page.waitForFunction(() => (document.getElementById('generated')!.textContent ?? '').length >= 'time traveller'.length + 30);
    expect(await page.textContent('#generated')).toMatch(/^time traveller.{30}$/s);
    expect(await page.$$('#chart svg')).not.toHaveLength(0);
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
