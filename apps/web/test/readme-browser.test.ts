// The package READMEs' page snippets (```ts browser blocks) work as pasted, so
// they cannot rot. Each is type-checked (strict, DOM), bundled for browsers by esbuild through
// the built packages' browser entries (as a user's bundler would), and run as a page's module in
// Debian's Chromium: it must finish without an error, write to the page, and leave no tensor
// alive. The wasm backend's CDN address (setWasmPaths) is answered from node_modules and every
// other request off the test server is refused: no network. Blocks marked `browser fragment`
// lean on an earlier block and are not run. (apps/cli/test/readme.test.ts runs the Node blocks.)
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const READMES = ['packages/data/README.md', 'packages/cells/README.md', 'packages/models/README.md', 'packages/training/README.md'];
const CHROMIUM = process.env.RNNKIT_CHROMIUM ?? '/usr/bin/chromium';
const wasmPackage = createRequire(join(appDir, 'package.json')).resolve('@tensorflow/tfjs-backend-wasm/package.json');
const wasmVersion = (JSON.parse(await readFile(wasmPackage, 'utf8')) as { version: string }).version;
/** The address the snippets pass to setWasmPaths: tfjs's own CDN folder of the installed version. */
const WASM_CDN = `https://cdn.jsdelivr.net/npm/@tensorflow/tfjs-backend-wasm@${wasmVersion}/dist/`;

interface Snippet {
  name: string;
  code: string;
  fragment: boolean;
}

const snippets: Snippet[] = [];
for (const file of READMES) {
  const text = await readFile(join(root, file), 'utf8');
  const fence = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  let index = 0;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const info = m[1]!.trim().split(/\s+/);
    if (!['ts', 'typescript', 'js', 'javascript'].includes(info[0]!) || !info.includes('browser')) continue;
    index++;
    snippets.push({ name: `${file} browser block ${index}`, code: m[2]!, fragment: info.includes('fragment') });
  }
}
const pages = snippets.filter((s) => !s.fragment);
const fileName = (s: Snippet) => s.name.replace(/[^a-z0-9]+/gi, '_');

// Inside the app, so that the snippets' bare imports resolve to the built packages as a user's would.
let dir: string;
let browser: Browser;
let server: Server;
let origin: string;
const served = new Map<string, { body: string | Uint8Array; type: string }>();

beforeAll(async () => {
  for (const p of ['data', 'cells', 'models', 'training']) {
    if (!existsSync(join(root, 'packages', p, 'dist', 'index.js'))) throw new Error(`packages/${p}/dist is missing: run pnpm build first.`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (or set RNNKIT_CHROMIUM).`);
  dir = await mkdtemp(join(appDir, '.readme-browser-'));
  server = createServer((req, res) => {
    const file = served.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!file) res.writeHead(404).end();
    else res.writeHead(200, { 'Content-Type': file.type }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the package READMEs show a browser page', () => {
  it('every package README has a runnable browser snippet', () => {
    for (const file of READMES)
      expect(
        pages.some((s) => s.name.startsWith(`${file} `)),
        file,
      ).toBe(true);
  });

  it('the browser snippets type-check (strict TypeScript, DOM) against the built packages', async () => {
    const files: string[] = [];
    for (const s of pages) {
      const file = join(dir, `${fileName(s)}.ts`);
      await writeFile(file, s.code);
      files.push(file);
    }
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      isolatedModules: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
      types: [],
    };
    const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram(files, options));
    const host: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' };
    expect(ts.formatDiagnostics(diagnostics, host)).toBe('');
  });

  for (const s of pages) {
    it(`${s.name} runs in Chromium and disposes its tensors`, async () => {
      // Training snippets run 2 epochs instead of their tens; then the live tensor count.
      const code = `${s.code.replace(/epochs: \d+/g, 'epochs: 2')}
;{ const __tf = await import('@tensorflow/tfjs-core'); let __n = 0; try { __n = __tf.memory().numTensors; } catch {} (globalThis as { __snippet?: unknown }).__snippet = { numTensors: __n }; }
`;
      const entry = join(dir, `${fileName(s)}.run.ts`);
      await writeFile(entry, code);
      const bundle = await build({
        entryPoints: [entry],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        target: 'es2022',
        write: false,
        outfile: 'main.js',
        logLevel: 'silent',
      });
      const path = `/${fileName(s)}/`;
      served.set(`${path}main.js`, { body: bundle.outputFiles[0]!.contents, type: 'text/javascript' });
      served.set(path, {
        type: 'text/html',
        body: `<!doctype html><meta charset="utf-8"><title>${s.name}</title>
<script>addEventListener('error', (e) => { window.__snippetError = String(e.error?.stack ?? e.message); }); addEventListener('unhandledrejection', (e) => { window.__snippetError = String(e.reason?.stack ?? e.reason); });</script>
<script type="module" src="main.js"></script>`,
      });
      const context = await browser.newContext();
      const refused: string[] = [];
      await context.route('**/*', async (route) => {
        const url = route.request().url();
        if (url.startsWith(origin)) return route.continue();
        const wasm = url.startsWith(WASM_CDN) ? url.slice(WASM_CDN.length) : '';
        if (/^tfjs-backend-wasm[a-z-]*\.wasm$/.test(wasm)) {
          return route.fulfill({
            path: join(dirname(wasmPackage), 'dist', wasm),
            contentType: 'application/wasm',
            headers: { 'Access-Control-Allow-Origin': '*' },
          });
        }
        refused.push(url);
        return route.abort();
      });
      try {
        const page = await context.newPage();
        await page.goto(`${origin}${path}`);
        await page.waitForFunction(
          () => {
            const w = window as { __snippet?: unknown; __snippetError?: string };
            return w.__snippet !== undefined || w.__snippetError !== undefined;
          },
          null,
          { timeout: 150_000 },
        );
        const result = await page.evaluate(() => {
          const w = window as { __snippet?: { numTensors: number }; __snippetError?: string };
          return { error: w.__snippetError, numTensors: w.__snippet?.numTensors, text: document.body.textContent ?? '' };
        });
        expect(refused, `requests off the page (setWasmPaths must be ${WASM_CDN})`).toEqual([]);
        expect(result.error).toBeUndefined();
        expect(result.text.trim(), 'what the snippet wrote to the page').not.toBe('');
        expect(result.numTensors, `tensors left alive; the page says: ${result.text}`).toBe(0);
      } finally {
        await context.close();
      }
    });
  }
});
