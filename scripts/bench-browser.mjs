// `pnpm bench:browser`: fused GRU-256 training steps in headless Chromium and in Node, in one run.
// Node rounds run `rnnkit bench` itself (a fresh process each); browser rounds run the same case,
// batches and timed steps (apps/cli/src/bench-steps.ts, bundled with esbuild) in a page's Web
// Worker, as apps/web trains, each in a fresh worker. The page is served twice: plain (one thread:
// tfjs's SIMD build, as in Node, and rnnkit's kernels alone) and cross-origin isolated (COOP/COEP:
// SharedArrayBuffer, so tfjs runs its threaded SIMD build, whose pool tfjs caps at
// navigator.hardwareConcurrency / 2, and rnnkit's kernels their worker pool where @rnnkit/cells
// has `setKernelThreads`; then Node runs the same thread count too, RNNKIT_THREADS). Rounds
// alternate Node / browser; the summary gives medians over rounds of each round's median step.
// It prints figures; it is not a test. Run after `pnpm build`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { chromium } from 'playwright';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
};

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    case: { type: 'string', default: 'fused-gru-256' },
    threads: { type: 'string', default: 'auto' },
    'no-threaded': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(`Usage: pnpm bench:browser [--rounds 3] [--steps 30] [--warmup 3] [--case fused-gru-256] [--threads auto|N] [--no-threaded]
Times rnnkit bench's case in Node and in headless Chromium (${CHROMIUM.executablePath}), alternating rounds:
one thread each, then (unless --no-threaded) rnnkit's kernels on --threads threads in a cross-origin
isolated page and in Node (auto: the page's navigator.hardwareConcurrency).`);
  process.exit(0);
}
const whole = (name, min) => {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be a whole number >= ${min}, got ${opts[name]}.`);
    process.exit(2);
  }
  return n;
};
const rounds = whole('rounds', 1);
const steps = whole('steps', 1);
const warmup = whole('warmup', 0);
const threadsWanted = opts.threads === 'auto' ? 'auto' : whole('threads', 1);

const bin = join(root, 'apps/cli/dist/bin.js');
if (!existsSync(bin)) {
  console.error('apps/cli/dist/bin.js is missing: run pnpm build first.');
  process.exit(1);
}
if (!existsSync(CHROMIUM.executablePath)) {
  console.error(`No Chromium at ${CHROMIUM.executablePath}: apt-get install -y chromium.`);
  process.exit(1);
}

// The worker bundle: the built packages through their browser entries, unminified (tfjs-wasm
// starts its threads from a function's source text, which a minifier would break).
const bundled = await build({
  entryPoints: [join(root, 'apps/cli/src/bench-browser-worker.ts')],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  write: false,
  logLevel: 'warning',
  outfile: 'worker.js',
});
const workerJs = bundled.outputFiles[0].contents;
const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');

const PAGE = `<!doctype html><meta charset="utf-8"><title>rnnkit bench:browser</title>
<script type="module">
window.runRound = (request) => new Promise((resolve, reject) => {
  const worker = new Worker('worker.js', { type: 'module' });
  worker.onmessage = (e) => { worker.terminate(); e.data.ok ? resolve(e.data.result) : reject(new Error(e.data.error)); };
  worker.onerror = (e) => { worker.terminate(); reject(new Error(e.message || 'the worker failed to load')); };
  worker.postMessage(request);
});
</script>`;
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

// /plain/... without isolation headers, /isolated/... with them; the same files under both.
const server = createServer(async (req, res) => {
  const match = /^\/(plain|isolated)\/(.*)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
  const headers = match?.[1] === 'isolated' ? { ...ISOLATION } : {};
  const file = match?.[2] ?? '';
  let body;
  if (file === '' || file === 'index.html') body = [PAGE, 'text/html'];
  else if (file === 'worker.js') body = [workerJs, 'text/javascript'];
  else if (/^tfjs-backend-wasm[a-z-]*\.wasm$/.test(file)) body = [await readFile(join(wasmDir, file)).catch(() => null), 'application/wasm'];
  if (!body?.[0]) {
    res.writeHead(404, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': body[1], 'Cache-Control': 'no-store' }).end(body[0]);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

/** One Node round: `rnnkit bench --json` on the wasm backend, in a fresh process, its kernels on `threads` threads. */
function nodeRound(threads) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [bin, 'bench', '--backends', 'wasm', '--only', opts.case, '--steps', String(steps), '--warmup', String(warmup), '--json'],
      {
        cwd: root,
        env: { ...process.env, RNNKIT_THREADS: String(threads) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const row = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .find((e) => e.event === 'row');
      if (code !== 0 || !row) reject(new Error(`rnnkit bench exited with ${code}:\n${out}`));
      // tfjs-wasm in Node runs its single-threaded SIMD build.
      else
        resolve({
          backend: row.backend,
          crossOriginIsolated: false,
          wasmThreaded: false,
          tfjsThreads: 1,
          kernelThreads: row.threads,
          simd: row.simd,
          msPerStep: row.msPerStep,
          tokensPerSecond: row.tokensPerSecond,
          leakedTensors: row.leakedTensors,
        });
    });
  });
}

const browser = await chromium.launch({ headless: true, ...CHROMIUM });
const pages = {};
for (const kind of ['plain', ...(opts['no-threaded'] ? [] : ['isolated'])]) {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error(`page error (${kind}): ${err.message}`));
  await page.goto(`${origin}/${kind}/`);
  pages[kind] = page;
}
const chromiumVersion = browser.version();

/** One browser round in a fresh worker of the plain or the isolated page, rnnkit's kernels on `kernelThreads`. */
async function browserRound(kind, kernelThreads, extra = {}) {
  const request = { caseId: opts.case, steps, warmup, wasmPrefix: `${origin}/${kind}/`, kernelThreads, ...extra };
  const result = await pages[kind].evaluate((r) => window.runRound(r), request);
  if (kind === 'isolated' && !result.crossOriginIsolated) throw new Error('The isolated page is not cross-origin isolated: check the COOP/COEP headers.');
  return result;
}

// What the isolated page offers: rnnkit's kernel threads where @rnnkit/cells has them.
const probe = opts['no-threaded'] ? null : await browserRound('isolated', threadsWanted, { probe: true });
const threaded = probe?.kernelThreadsApi && probe.kernelThreads > 1 ? probe.kernelThreads : 0;
const sides = [
  { id: 'node', label: `Node ${process.version}`, run: () => nodeRound(1) },
  { id: 'browser', label: `Chromium ${chromiumVersion}`, run: () => browserRound('plain', 1) },
  ...(threaded ? [{ id: `node-${threaded}t`, label: `Node ${process.version}`, run: () => nodeRound(threaded) }] : []),
  ...(probe
    ? [
        {
          id: threaded ? `browser-${threaded}t` : 'browser-isolated',
          label: `Chromium ${chromiumVersion}, isolated`,
          run: () => browserRound('isolated', threaded || 1),
        },
      ]
    : []),
];
const results = Object.fromEntries(sides.map((s) => [s.id, []]));
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const loadBefore = load();
console.log(
  `bench:browser ${opts.case}, batch 32 x 35, ${steps} timed steps after ${warmup} warm-up, ${rounds} rounds; ${cpus().length} CPUs, load ${loadBefore}`,
);
if (probe && !threaded) {
  console.log(
    probe.kernelThreadsApi
      ? `rnnkit's kernels run 1 thread in the isolated page (--threads ${threadsWanted}, navigator.hardwareConcurrency decides "auto"): no threaded rows`
      : "this @rnnkit/cells has no kernel threads (setKernelThreads): the isolated page's row is tfjs's threaded build with rnnkit's kernels on 1 thread",
  );
}
const describe = (r) =>
  `${r.backend} ${r.wasmThreaded ? 'threaded-SIMD' : 'SIMD'} build, tfjs threads ${r.tfjsThreads}, rnnkit kernels ${r.simd ?? 'off'} SIMD on ${r.kernelThreads} thread${r.kernelThreads > 1 ? 's' : ''}${r.crossOriginIsolated ? ', cross-origin isolated' : ''}`;
try {
  for (let round = 1; round <= rounds; round++) {
    for (const side of sides) {
      const r = await side.run();
      results[side.id].push(r);
      console.log(
        `round ${round}  ${side.id.padEnd(16)} ${r.msPerStep.toFixed(1).padStart(7)} ms/step ${String(r.tokensPerSecond).padStart(7)} tokens/s  (${describe(r)}; leaked ${r.leakedTensors})`,
      );
    }
  }
} finally {
  await browser.close();
  server.close();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = sides.map((s) => {
  const rs = results[s.id];
  const last = rs.at(-1);
  return {
    side: s.id,
    runtime: s.label,
    backend: last.backend,
    wasmThreaded: last.wasmThreaded,
    tfjsThreads: last.tfjsThreads,
    kernelThreads: last.kernelThreads,
    simd: last.simd,
    crossOriginIsolated: last.crossOriginIsolated,
    tokensPerSecond: Math.round(median(rs.map((r) => r.tokensPerSecond))),
    msPerStep: +median(rs.map((r) => r.msPerStep)).toFixed(1),
    rounds: rs.map((r) => r.tokensPerSecond),
  };
});
const node = summary[0];
console.log('');
// Each browser row against the Node row with the same kernel threads (else Node's one-thread row).
console.log(`${'side'.padEnd(16)} ${'tokens/s'.padStart(9)} ${'ms/step'.padStart(8)} ${'x Node'.padStart(6)}  setup`);
for (const s of summary) {
  const peer = s.side.startsWith('browser') ? (summary.find((n) => n.side.startsWith('node') && n.kernelThreads === s.kernelThreads) ?? node) : node;
  const ratio = s.tokensPerSecond / peer.tokensPerSecond;
  s.ratioToNode = +ratio.toFixed(2);
  s.comparedWith = peer.side;
  console.log(
    `${s.side.padEnd(16)} ${String(s.tokensPerSecond).padStart(9)} ${s.msPerStep.toFixed(1).padStart(8)} ${ratio.toFixed(2).padStart(6)}  ${s.runtime}: ${describe(s)}${peer === node ? '' : ` (vs ${peer.side})`}`,
  );
}
const loadAfter = load();
console.log(`medians over ${rounds} rounds; load before ${loadBefore}, after ${loadAfter}`);
console.log(
  JSON.stringify({
    bench: 'browser',
    case: opts.case,
    batch: [32, 35],
    steps,
    warmup,
    rounds,
    cpus: cpus().length,
    load: { before: loadBefore, after: loadAfter },
    rows: summary,
  }),
);
