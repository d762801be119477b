import embed from 'vega-embed';
import { perplexitySpec } from '@rnnkit/cli/plot';
import { CELL_KINDS } from '@rnnkit/models/cell-kinds';
import type {
  BackendInfo,
  CheckpointFile,
  CheckpointSource,
  CorpusChoice,
  EpochPoint,
  FromWorker,
  GenerateResult,
  ImportedModel,
  ModelSummary,
  Request,
  TrainSettings,
  WorkerEvent,
} from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
};
const input = (id: string) => $<HTMLInputElement>(id);
const button = (id: string) => $<HTMLButtonElement>(id);

// The cell menu offers every cell kind, GRU chosen (rnnkit train's default).
for (const kind of CELL_KINDS) $<HTMLSelectElement>('cell').add(new Option(kind.toUpperCase(), kind, kind === 'gru', kind === 'gru'));

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.kind === 'event') return onEvent(m);
  const p = pending.get(m.id);
  pending.delete(m.id);
  if (m.ok) p?.resolve(m.result);
  else p?.reject(new Error(m.error));
};
/** Set once the worker has failed: every call then fails at once with this. */
let workerFailure: Error | null = null;
worker.onerror = (e) => {
  // A worker script that cannot load (a wrong path on a static host, a blocked request) fails
  // here with no message: say so, and fail whatever waits for an answer.
  const why = e.message || `its script did not load (${new URL('./', location.href).pathname} must hold the built site's assets/ folder)`;
  workerFailure = new Error(`The training worker failed: ${why}. Reload the page.`);
  e.preventDefault();
  for (const p of pending.values()) p.reject(workerFailure);
  pending.clear();
  if (!backend) $('backend-info').textContent = 'The wasm backend could not start.';
  showError(workerFailure.message);
};

function call<T>(req: Request): Promise<T> {
  if (workerFailure) return Promise.reject(workerFailure);
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ ...req, id });
  });
}

// --- messages -------------------------------------------------------------------------------

function showMessage(text: string, kind: 'error' | 'info'): void {
  const box = $('message');
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}
const showError = (text: string) => showMessage(text, 'error');
const showInfo = (text: string) => showMessage(text, 'info');
const clearMessage = () => ($('message').hidden = true);

// --- state ----------------------------------------------------------------------------------

let busy: 'training' | 'loading' | null = null;
let generating = false;
/** Whether the user typed a generation prefix (else a new model's own sample prefix fills it). */
let prefixEdited = false;
let model: ModelSummary | null = null;
let history: EpochPoint[] = [];
let corpusFile: File | null = null;

function refreshButtons(): void {
  const ready = backend !== null;
  button('train').disabled = !ready || busy !== null;
  button('stop').disabled = busy !== 'training';
  button('continue').disabled = !ready || busy !== null || !model?.canContinue;
  button('generate').disabled = !model || busy === 'loading' || generating;
  button('stop-generate').disabled = !generating;
  button('save-idb').disabled = !model || busy !== null;
  button('download').disabled = !model || busy !== null;
  button('load-idb').disabled = !ready || busy !== null || !savedInfo;
  button('load-url').disabled = !ready || busy !== null;
  input('checkpoint-files').disabled = !ready || busy !== null;
  input('pytorch-files').disabled = !ready || busy !== null;
  button('download-onnx').disabled = !model || busy !== null;
  button('download-safetensors').disabled = !model || busy !== null;
  document.body.dataset.state = busy ?? (model ? 'ready' : 'empty');
}

function showModel(m: ModelSummary): void {
  model = m;
  chartTitle = m.describe;
  history = [...m.history];
  const where = m.canContinue
    ? ''
    : m.needsCorpus
      ? ` (generate only: choose ${m.needsCorpus.name} again to train on)`
      : ' (generate only: its corpus is not here)';
  $('model-info').textContent =
    `${m.describe}, vocab ${m.vocabSize.toLocaleString('en-US')} ${m.tokens === 'word' ? 'words' : 'characters'}, ${m.corpus}${where}`;
  $('model-info').title = m.text;
  $('epoch').textContent = `${m.epoch} / ${m.epochs}`;
  $('samples-prefix').textContent = JSON.stringify(m.prefix);
  if (!prefixEdited) $<HTMLTextAreaElement>('prefix').value = m.prefix;
  const last = history.at(-1);
  $('perplexity').textContent = last ? last.perplexity.toFixed(2) : '–';
  $('validation').textContent = last?.validationPerplexity === undefined ? '–' : last.validationPerplexity.toFixed(2);
  $('speed').textContent = last ? Math.round(last.tokensPerSecond).toLocaleString('en-US') : '–';
  fillHistoryTable();
  drawChart();
}

// --- chart: the CLI's perplexity spec, redrawn at most every 250 ms ---------------------------

function fillHistoryTable(): void {
  const body = $('history').querySelector('tbody')!;
  body.replaceChildren(
    ...history.map((h) => {
      const tr = document.createElement('tr');
      const validation = h.validationPerplexity === undefined ? '' : h.validationPerplexity.toFixed(3);
      for (const v of [String(h.epoch), h.perplexity.toFixed(3), String(Math.round(h.tokensPerSecond)), h.seconds.toFixed(2), validation])
        tr.append(Object.assign(document.createElement('td'), { textContent: v }));
      return tr;
    }),
  );
}

let chartQueued = false;
/** What the chart is of: the model shown, or the settings of a run in progress (set when it starts). */
let chartTitle = '';
let chartRunning: Promise<unknown> = Promise.resolve();
let chartView: { finalize(): void } | null = null;
function drawChart(): void {
  if (chartQueued) return;
  chartQueued = true;
  chartRunning = chartRunning.then(async () => {
    chartQueued = false;
    chartView?.finalize();
    chartView = null;
    const shown = [...history];
    if (shown.length === 0) {
      $('chart').replaceChildren();
      delete $('chart').dataset.epochs;
      return;
    }
    const title = `${chartTitle || describeSettings()}: perplexity`;
    chartView = (
      await embed('#chart', perplexitySpec(shown, title), { actions: { export: true, source: false, compiled: false, editor: false }, renderer: 'svg' })
    ).view;
    // How many epochs the chart shows (tests wait on it: drawing lags the figures by up to 250 ms).
    $('chart').dataset.epochs = String(shown.length);
    await new Promise((r) => setTimeout(r, 250));
  });
}

// --- worker events --------------------------------------------------------------------------

function onEvent(e: WorkerEvent): void {
  if (e.type === 'epoch') {
    history.push(e.point);
    $('epoch').textContent = `${e.point.epoch} / ${e.epochs}`;
    $('perplexity').textContent = e.point.perplexity.toFixed(2);
    $('validation').textContent = e.point.validationPerplexity === undefined ? '–' : e.point.validationPerplexity.toFixed(2);
    $('speed').textContent = Math.round(e.point.tokensPerSecond).toLocaleString('en-US');
    fillHistoryTable();
    drawChart();
  } else if (e.type === 'sample') {
    const li = document.createElement('li');
    li.value = e.epoch;
    li.append(
      Object.assign(document.createElement('span'), { className: 'muted', textContent: `epoch ${e.epoch}` }),
      Object.assign(document.createElement('span'), { textContent: e.text }),
    );
    $('samples').prepend(li);
    while ($('samples').children.length > 12) $('samples').lastElementChild?.remove();
  } else if (e.type === 'corpus') {
    const n = (x: number) => x.toLocaleString('en-US');
    const used = e.tokens < e.total ? `${n(e.tokens)} of ${n(e.total)} ${e.unit} used` : `all ${n(e.tokens)} ${e.unit} used`;
    const held = e.validation ? `, the last ${n(e.validation)} held out for validation` : '';
    const prefix = e.prefixChosen ? ` Samples continue ${JSON.stringify(e.prefix)}, its first words (set Sample prefix to choose).` : '';
    $('corpus-info').textContent = `${e.name}: ${used}${held}; vocabulary of ${n(e.vocabSize)}.${prefix}`;
    $('samples-prefix').textContent = JSON.stringify(e.prefix);
  } else if (e.type === 'generated') {
    $('generated').textContent = e.text;
  }
}

// --- backend --------------------------------------------------------------------------------

let backend: BackendInfo | null = null;
let savedInfo: { savedAt: string; bytes: number } | null = null;

async function refreshSaved(): Promise<void> {
  savedInfo = await call<{ savedAt: string; bytes: number } | null>({ type: 'saved-info' });
  $('saved-info').textContent = savedInfo
    ? `Saved in this browser: ${new Date(savedInfo.savedAt).toLocaleString()} (${(savedInfo.bytes / 1024).toFixed(0)} KiB of weights).`
    : 'Nothing saved in this browser yet.';
  refreshButtons();
}

/** How long the backend may take to start before the page says it did not (fetching and compiling the .wasm files). */
const START_TIMEOUT_MS = 60_000;

async function start(): Promise<void> {
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `The wasm backend did not start within ${START_TIMEOUT_MS / 1000} s: its .wasm files may not load from this address (see the console). Reload the page.`,
            ),
          ),
        START_TIMEOUT_MS,
      );
    });
    backend = await Promise.race([call<BackendInfo>({ type: 'init' }), timeout]).finally(() => clearTimeout(timer));
    const parts = [
      `backend ${backend.backend}`,
      backend.simd ? 'SIMD' : 'no SIMD',
      backend.relaxedSimd ? 'relaxed SIMD' : 'no relaxed SIMD',
      `tfjs ${backend.threads > 1 ? `${backend.threads} threads` : '1 thread'}`,
      `rnnkit kernels ${backend.kernelThreads > 1 ? `${backend.kernelThreads} threads` : '1 thread'}`,
      `${backend.cores} cores`,
      backend.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated',
    ];
    $('backend-info').textContent = parts.join(' · ');
    await refreshSaved();
  } catch (err) {
    if (!backend) $('backend-info').textContent = 'The wasm backend could not start.';
    showError((err as Error).message);
  }
  refreshButtons();
}

// --- corpus ---------------------------------------------------------------------------------

function pickCorpus(file: File | undefined): void {
  if (!file) return;
  corpusFile = file;
  document.querySelector<HTMLInputElement>('input[name=corpus][value=file]')!.checked = true;
  $('corpus-info').textContent = `${file.name} (${file.size.toLocaleString('en-US')} bytes) will be used when you press Train.`;
  if (model?.needsCorpus) void attachCorpus(file);
}

/** A loaded model that trained on a file: the same file chosen again (same SHA-256) lets Continue train it on. */
async function attachCorpus(file: File): Promise<void> {
  clearMessage();
  try {
    const m = await call<ModelSummary>({ type: 'attach-corpus', corpus: { kind: 'file', name: file.name, bytes: await file.arrayBuffer() } });
    showModel(m);
    showInfo(`${file.name} is the text this model trained on (same SHA-256): Continue trains it on from epoch ${m.epoch}.`);
  } catch (err) {
    showError((err as Error).message);
  }
  refreshButtons();
}
input('corpus-file').addEventListener('change', () => pickCorpus(input('corpus-file').files?.[0]));
const drop = $('drop-zone');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  pickCorpus(e.dataTransfer?.files[0]);
});

async function corpusChoice(): Promise<CorpusChoice> {
  const useFile = document.querySelector<HTMLInputElement>('input[name=corpus][value=file]')!.checked;
  if (!useFile) return { kind: 'timemachine' };
  if (!corpusFile) throw new Error('Pick or drop a .txt file first, or choose The Time Machine.');
  return { kind: 'file', name: corpusFile.name, bytes: await corpusFile.arrayBuffer() };
}

// --- training -------------------------------------------------------------------------------

function numberField(id: string, label: string): number {
  const raw = input(id).value.trim();
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n)) throw new Error(`${label} must be a number.`);
  return n;
}

/** The chart's title while the first epochs come in (the worker's own description comes at the end). */
function describeSettings(): string {
  return `fused ${$<HTMLSelectElement>('cell').value.toUpperCase()} ${input('hidden').value}`;
}

function trainSettings(): TrainSettings {
  return {
    cell: $<HTMLSelectElement>('cell').value as TrainSettings['cell'],
    hidden: numberField('hidden', 'Hidden size'),
    epochs: numberField('epochs', 'Epochs'),
    lr: numberField('lr', 'Learning rate'),
    maxTokens: numberField('max-tokens', 'Max tokens'),
    preprocess: $<HTMLSelectElement>('preprocess').value as TrainSettings['preprocess'],
    tokens: $<HTMLSelectElement>('tokens').value as TrainSettings['tokens'],
    minFreq: numberField('min-freq', 'Min freq'),
    valFraction: numberField('val-percent', 'Validation %') / 100,
    ...(input('patience').value.trim() === '' ? {} : { patience: numberField('patience', 'Patience') }),
    sampleEvery: numberField('sample-every', 'Sample every'),
    prefix: input('sample-prefix').value,
    seed: 0,
  };
}

async function runTraining(req: () => Promise<Request>, fresh: boolean): Promise<void> {
  clearMessage();
  let request: Request;
  try {
    request = await req();
  } catch (err) {
    return showError((err as Error).message);
  }
  busy = 'training';
  if (fresh) {
    chartTitle = describeSettings();
    history = [];
    $('samples').replaceChildren();
    $('epoch').textContent = '–';
    $('perplexity').textContent = '–';
    $('validation').textContent = '–';
    $('speed').textContent = '–';
    $('chart').replaceChildren();
    fillHistoryTable();
  }
  refreshButtons();
  try {
    const m = await call<ModelSummary>(request);
    showModel(m);
    if (m.earlyStopped && m.best)
      showInfo(
        `Stopped early at epoch ${m.epoch}: validation perplexity has not improved since epoch ${m.best.epoch} (${m.best.validationPerplexity.toFixed(2)}); the model holds that epoch's weights again.`,
      );
    else if (m.epoch < m.epochs) showInfo(`Stopped at epoch ${m.epoch} of ${m.epochs}: Continue goes on from there.`);
  } catch (err) {
    showError((err as Error).message);
  } finally {
    busy = null;
    refreshButtons();
  }
}

button('train').addEventListener('click', () => {
  void runTraining(async () => ({ type: 'train', corpus: await corpusChoice(), settings: trainSettings() }), true);
});
button('stop').addEventListener('click', () => {
  void call({ type: 'stop' });
});
button('continue').addEventListener('click', () => {
  void runTraining(async () => {
    const asked = numberField('epochs', 'Epochs');
    const done = model?.epoch ?? 0;
    const target = model && model.epoch < model.epochs ? Math.max(model.epochs, asked) : asked > done ? asked : done + asked;
    return { type: 'continue', epochs: target };
  }, false);
});

// --- generation -----------------------------------------------------------------------------

$('prefix').addEventListener('input', () => (prefixEdited = true));
button('generate').addEventListener('click', async () => {
  clearMessage();
  const optional = (id: string, label: string) => (input(id).value.trim() === '' ? undefined : numberField(id, label));
  let settings: Extract<Request, { type: 'generate' }>['settings'];
  try {
    settings = {
      prefix: $<HTMLTextAreaElement>('prefix').value,
      length: numberField('length', 'Length'),
      temperature: optional('temperature', 'Temperature'),
      topK: optional('top-k', 'Top-k'),
      seed: numberField('seed', 'Seed'),
    };
  } catch (err) {
    return showError((err as Error).message);
  }
  generating = true;
  refreshButtons();
  try {
    // The text streams in through 'generated' events as it is made (generate() of @rnnkit/training).
    const r = await call<GenerateResult>({ type: 'generate', settings });
    $('generated').textContent = r.text;
    const note = $('unknown-note');
    note.hidden = r.unknownTokens.length === 0;
    note.textContent = r.unknownTokens.length
      ? `Not in the vocabulary, fed to the model as <unk>: ${r.unknownTokens.map((t) => JSON.stringify(t)).join(', ')}. (The prefix is read as the training text was: ${JSON.stringify(r.prefix)}.)`
      : '';
  } catch (err) {
    showError((err as Error).message);
  } finally {
    generating = false;
    refreshButtons();
  }
});
button('stop-generate').addEventListener('click', () => {
  void call({ type: 'stop-generate' });
});

// --- checkpoints ----------------------------------------------------------------------------

async function loadCheckpoint(source: CheckpointSource, what: string): Promise<void> {
  clearMessage();
  busy = 'loading';
  refreshButtons();
  try {
    const m = await call<ModelSummary>({ type: 'load', source });
    $('samples').replaceChildren();
    $('generated').textContent = '';
    showModel(m);
    showInfo(`Loaded ${what}: ${m.describe}, epoch ${m.epoch}.`);
  } catch (err) {
    showError(`Could not load ${what}: ${(err as Error).message}`);
  } finally {
    busy = null;
    refreshButtons();
  }
}

button('save-idb').addEventListener('click', async () => {
  clearMessage();
  try {
    await call({ type: 'save' });
    await refreshSaved();
    showInfo('Saved in this browser (IndexedDB): it is still here after a reload.');
  } catch (err) {
    showError(`Could not save: ${(err as Error).message}`);
  }
});
button('load-idb').addEventListener('click', () => void loadCheckpoint({ kind: 'indexeddb' }, 'the checkpoint saved in this browser'));
input('checkpoint-files').addEventListener('change', () => {
  const files = [...(input('checkpoint-files').files ?? [])];
  input('checkpoint-files').value = '';
  if (files.length) void loadCheckpoint({ kind: 'files', files }, files.map((f) => f.name).join(' + '));
});
button('load-url').addEventListener('click', () => {
  const url = input('checkpoint-url').value.trim();
  if (!url) return showError("Type the URL of a checkpoint's model.json (or of its folder, ending in /).");
  void loadCheckpoint({ kind: 'url', url }, url);
});
/** Saves each file (a click on its link) and lists the links in `listId`, followed by `note`. */
function saveFiles(listId: string, files: CheckpointFile[], note: string): void {
  const links = $(listId);
  links.replaceChildren(document.createTextNode('Downloaded: '));
  for (const f of files) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([f.data], { type: f.type }));
    a.download = f.name;
    a.textContent = f.name;
    links.append(a, document.createTextNode(' '));
    a.click();
  }
  links.append(document.createTextNode(note));
}

button('download').addEventListener('click', async () => {
  clearMessage();
  try {
    const files = await call<CheckpointFile[]>({ type: 'export' });
    saveFiles(
      'download-links',
      files,
      `(put these ${files.length} files in one folder: rnnkit generate --checkpoint FOLDER reads it; to load them here again, choose them all at once)`,
    );
  } catch (err) {
    showError(`Could not download: ${(err as Error).message}`);
  }
});

// --- PyTorch and ONNX ------------------------------------------------------------------------

input('pytorch-files').addEventListener('change', async () => {
  const files = [...(input('pytorch-files').files ?? [])];
  input('pytorch-files').value = '';
  if (!files.length) return;
  clearMessage();
  busy = 'loading';
  refreshButtons();
  try {
    const r = await call<ImportedModel>({ type: 'import-pytorch', files });
    $('samples').replaceChildren();
    $('generated').textContent = '';
    showModel(r.summary);
    showInfo(`Loaded ${r.describe}, vocabulary from ${r.vocabulary}, on rnnkit's ${r.summary.describe.split(' ')[0]} implementation.`);
  } catch (err) {
    showError(`Could not load ${files.map((f) => f.name).join(' + ')}: ${(err as Error).message}`);
  } finally {
    busy = null;
    refreshButtons();
  }
});

async function downloadModel(format: 'onnx' | 'safetensors'): Promise<void> {
  clearMessage();
  try {
    const files = await call<CheckpointFile[]>({ type: 'export-model', format });
    saveFiles(
      'model-download-links',
      files,
      format === 'onnx'
        ? '(ONNX opset 14: tokens int64 [batch, steps] and h0 in, logits [batch, steps, vocab] and hn out)'
        : "(PyTorch: net.load_state_dict(safetensors.torch.load_file('model.safetensors'), strict=True))",
    );
  } catch (err) {
    showError(`Could not download: ${(err as Error).message}`);
  }
}
button('download-onnx').addEventListener('click', () => void downloadModel('onnx'));
button('download-safetensors').addEventListener('click', () => void downloadModel('safetensors'));

refreshButtons();
void start();
