/**
 * The demo page: the shipped Fashion-MNIST model and a user's own checkpoint, classified
 * from an uploaded, dropped, pasted or drawn image, with both forms' latency and the
 * execution provider that ran. Every action runs through one queue, so a failure (shown
 * as the library's one-line message) never leaves the page half-updated.
 */
import {
  chooseBackend,
  decodeImageBlob,
  loadOrtWeb,
  modelNames,
  readBytes,
  resolveModelName,
  type BackendChoice,
  type Interpolation,
  type RgbImage,
  type WebBackend,
  type WebOrt,
} from '../../src/browser/index.js';
import { fetchPretrained } from '../../src/browser/hub.js';
import { pretrainedModels } from '../../src/hub/registry.js';
import { drawPad } from './draw.js';
import { makeFormats, type FormatRow } from './formats.js';
import { PageModel, type Classification } from './page-model.js';
import {
  FASHION_DEFAULTS,
  fashionPipeline,
  imagenetPipeline,
  type FashionConfig,
  type InvertMode,
} from './pipelines.js';
import { $, clearError, errorMessage, millions, ms, paintRgb, renderTopk, showError } from './view.js';
import { hook, recordError, recordResult } from './test-hook.js';

type ModelSlot = 'fashion' | 'custom';

const MODELS_URL = new URL('models/fashion-mnist/', document.baseURI);
const ORT_URL = new URL('ort/', document.baseURI).href;
/**
 * Timed runs per form of each classification (`?runs=N`, 1-50, default 7). A slow backend
 * (WebGPU on a software adapter, as the WebGPU test runs it) can ask for fewer.
 */
/** Hub mirror for the published weights (`?hub=<url>`; default the Hugging Face hub). */
const HUB_ENDPOINT = new URLSearchParams(location.search).get('hub') ?? undefined;
const LATENCY_RUNS = Math.min(
  50,
  Math.max(1, Math.trunc(Number(new URLSearchParams(location.search).get('runs'))) || 7),
);

const state = {
  web: null as WebOrt | null,
  choice: null as BackendChoice | null,
  fashion: null as PageModel | null,
  fashionConfig: FASHION_DEFAULTS,
  custom: null as PageModel | null,
  customFile: null as { name: string; bytes: Uint8Array } | null,
  active: 'fashion' as ModelSlot,
  image: null as { rgb: RgbImage; name: string } | null,
};

// ---- one queue for every action ----------------------------------------------------------

let queue: Promise<void> = Promise.resolve();
let pending = 0;

/** Runs `task` after the previous ones; its error goes to the banner and the page carries on. */
function enqueue(what: string, task: () => Promise<void>): Promise<void> {
  pending++;
  document.body.dataset.state = 'busy';
  queue = queue.then(async () => {
    clearError($('error')); // a message stays until the next action, not forever
    try {
      await task();
    } catch (e) {
      // The library names its options ("the 'model' option"); on the page that choice is the Model list.
      const msg = pageWording(errorMessage(e));
      showError($('error'), msg);
      recordError(what, msg);
    } finally {
      hook.tasks++;
      if (--pending === 0) document.body.dataset.state = 'idle';
    }
  });
  return queue;
}

/** An event listener that queues `task`; the queue reports its errors, so nothing awaits it. */
function queued(what: string, task: () => Promise<void>): () => void {
  return () => void enqueue(what, task);
}

/** Rewrites option advice in library messages into the page's terms. */
function pageWording(message: string): string {
  return message
    .replace(/set the 'model' option to choose/g, 'choose another in the Model list')
    .replace(/name it with the 'model' option/g, 'choose the model in the Model list')
    .replace(/set the 'model' option to (repghostnet_\w+)/g, 'choose $1 in the Model list');
}

// ---- runtime -------------------------------------------------------------------------------

async function selectBackend(wanted: WebBackend | 'auto'): Promise<void> {
  const choice = await chooseBackend(wanted);
  const web = await loadOrtWeb({ backend: choice.backend, wasmPaths: ORT_URL });
  // Move loaded models to the new runtime before dropping the old sessions.
  const fashion = state.fashion && state.fashion.web !== web ? await state.fashion.rebind(web) : state.fashion;
  const custom = state.custom && state.custom.web !== web ? await state.custom.rebind(web) : state.custom;
  if (fashion !== state.fashion) await state.fashion?.dispose();
  if (custom !== state.custom) await state.custom?.dispose();
  Object.assign(state, { web, choice, fashion, custom });
  renderRuntime();
}

function runtimeLabel(): string {
  const { web } = state;
  if (!web) return 'not started';
  const threads = `${web.threads} thread${web.threads > 1 ? 's' : ''}`;
  return web.backend === 'webgpu'
    ? `WebGPU (CPU ops: wasm, ${threads})`
    : `wasm · ${threads}${crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
}

function renderRuntime(): void {
  const info = $('runtime-info');
  info.textContent = `running on ${runtimeLabel()}`;
  const reason = state.choice?.webgpuUnavailable;
  info.classList.toggle('warn', !!reason);
  // Said on the page, not only in a tooltip: 'auto' chose wasm, and this is why.
  $('runtime-note').textContent = reason ? `WebGPU not used: ${reason}` : '';
  hook.backend = state.web?.backend ?? null;
  hook.threads = state.web?.threads ?? 0;
  hook.webgpuUnavailable = reason ?? null;
}

// ---- models --------------------------------------------------------------------------------

function describeModel(m: PageModel, extra = ''): string {
  const l = m.loaded;
  const t = m.timings;
  const conv =
    `converted in ${ms(t.parseAndFuse + t.onnx + t.sessions)} (read + re-parameterize ${ms(t.parseAndFuse)}, ` +
    `ONNX ${ms(t.onnx)}, sessions ${ms(t.sessions)})`;
  const src = l.form === 'train' ? 'training form → deploy form' : 'deploy form (no training form to compare)';
  const note = l.note ? ` ${pageWording(l.note)}.` : '';
  return `${l.spec.name}, ${l.spec.numClasses} classes, ${src}${extra}; ${conv}.${note}`;
}

async function loadFashion(): Promise<void> {
  const status = $('fashion-status');
  const web = state.web!;
  let meta: Record<string, unknown>;
  let labels: string[];
  let bytes: Uint8Array;
  try {
    [meta, labels, bytes] = await Promise.all([
      readBytes(new URL('meta.json', MODELS_URL).href, 'model metadata').then(
        (b) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>,
      ),
      readBytes(new URL('labels.json', MODELS_URL).href, 'labels').then(
        (b) => JSON.parse(new TextDecoder().decode(b)) as string[],
      ),
      readBytes(new URL('model.safetensors', MODELS_URL).href, 'model'),
    ]);
  } catch (e) {
    status.textContent =
      `The shipped model is not available: ${errorMessage(e)}. ` + 'You can still load your own checkpoint.';
    status.classList.add('bad');
    return;
  }
  state.fashionConfig = fashionConfigFrom(meta);
  const invert = $('fashion-invert', HTMLSelectElement).value as InvertMode;
  // meta.json names the architecture when the weights file does not (keys alone cannot
  // tell 0.5x from its ablations).
  const arch = [meta.model, meta.arch].find((v): v is string => typeof v === 'string' && isModelName(v));
  const model = await PageModel.create(
    web,
    bytes,
    { ...(arch ? { model: arch } : {}), ema: false, fileName: 'model.safetensors' },
    fashionPipeline(state.fashionConfig, invert),
    labels,
  );
  state.fashion = model;
  const top1 = [meta.test_top1, meta.top1].find((v): v is number => typeof v === 'number');
  const acc = top1 !== undefined ? `, test top-1 ${top1.toFixed(2)} %` : '';
  status.textContent = describeModel(model, acc);
  status.classList.remove('bad');
  void loadSamples();
}

function isModelName(name: string): boolean {
  try {
    resolveModelName(name);
    return true;
  } catch {
    return false;
  }
}

/** Reads the preprocessing fields of meta.json, keeping the recipe's values for any it lacks. */
function fashionConfigFrom(meta: Record<string, unknown>): FashionConfig {
  const p =
    ([meta.input, meta.preprocessing, meta.preprocess].find((v) => typeof v === 'object' && v !== null) as
      Record<string, unknown> | undefined) ?? {};
  const num = (v: unknown, d: number) =>
    typeof v === 'number' && Number.isFinite(v) ? v : Array.isArray(v) && typeof v[0] === 'number' ? v[0] : d;
  return {
    sourceSize: num(p.sourceSize ?? p.source_size, FASHION_DEFAULTS.sourceSize),
    size: num(p.size ?? p.inputSize ?? p.input_size, FASHION_DEFAULTS.size),
    mean: num(p.mean, FASHION_DEFAULTS.mean),
    std: num(p.std, FASHION_DEFAULTS.std),
  };
}

async function loadSamples(): Promise<void> {
  let files: string[];
  try {
    files = JSON.parse(
      new TextDecoder().decode(await readBytes(new URL('index.json', MODELS_URL).href, 'sample list')),
    ) as string[];
  } catch {
    return; // no samples: the page works without them
  }
  const box = $('fashion-samples');
  for (const f of files.filter((f) => /^samples\/.+\.(png|jpe?g|webp)$/i.test(f)).slice(0, 20)) {
    const b = document.createElement('button');
    b.type = 'button';
    const name = f.slice('samples/'.length);
    b.title = name;
    const img = document.createElement('img');
    img.src = new URL(f, MODELS_URL).href;
    img.alt = name;
    b.append(img);
    b.addEventListener(
      'click',
      queued('sample', async () => {
        selectSlot('fashion');
        await setImage(await readBytes(img.src, 'sample'), name);
      }),
    );
    box.append(b);
  }
}

function customRequest() {
  const model = $('ckpt-model', HTMLSelectElement).value;
  const ema = document.querySelector<HTMLInputElement>('input[name=ckpt-ema]:checked')!.value === 'ema';
  const interp = $('ckpt-interp', HTMLSelectElement).value as Interpolation;
  return { model: model || undefined, ema, interp };
}

async function loadCustom(): Promise<void> {
  const file = state.customFile;
  if (!file) return;
  const status = $('custom-status');
  const { model: name, ema, interp } = customRequest();
  status.textContent = `Converting ${file.name}…`;
  status.classList.remove('bad');
  let model: PageModel;
  try {
    model = await PageModel.create(
      state.web!,
      file.bytes,
      { ...(name ? { model: name } : {}), ema, fileName: file.name },
      imagenetPipeline(interp),
    );
  } catch (e) {
    // The previous model (if any) stays loaded and active.
    const msg = pageWording(errorMessage(e));
    status.textContent = state.custom ? `${msg} (still using the previous ${state.custom.loaded.spec.name})` : msg;
    status.classList.add('bad');
    throw e;
  }
  await state.custom?.dispose();
  state.custom = model;
  const meta = model.loaded.meta;
  const weights =
    meta.source === 'timm-checkpoint'
      ? `, ${ema ? 'EMA' : 'raw'} weights${meta.epoch !== undefined ? ` of epoch ${meta.epoch}` : ''}`
      : '';
  status.textContent = `${file.name}: ${describeModel(model, weights)}`;
  selectSlot('custom');
  await classifyCurrent();
}

async function loadPretrained(): Promise<void> {
  const name = $('pretrained-model', HTMLSelectElement).value;
  const status = $('pretrained-status');
  status.textContent = `Fetching ${name}…`;
  const r = await fetchPretrained(name, {
    ...(HUB_ENDPOINT ? { hfEndpoint: HUB_ENDPOINT } : {}),
    onProgress: ({ received, total }) => {
      const of = total ? ` of ${(total / 1e6).toFixed(1)}` : '';
      status.textContent = `Fetching ${name}: ${(received / 1e6).toFixed(1)}${of} MB…`;
    },
  });
  const from = r.fromCache ? 'from the browser cache' : `downloaded from ${new URL(r.url).host}`;
  status.textContent =
    `${r.model}: ${(r.bytes.length / 1e6).toFixed(1)} MB ${from}, sha256 ${r.sha256.slice(0, 12)}…; ` +
    `ImageNet top-1 ${r.top1} % (official).`;
  hook.pretrained = { model: r.model, fromCache: r.fromCache, bytes: r.bytes.length };
  // The weights' own settings: the model, raw vs EMA, and the resize they were evaluated with.
  $('ckpt-model', HTMLSelectElement).value = r.model;
  document.querySelector<HTMLInputElement>(`input[name=ckpt-ema][value=${r.ema ? 'ema' : 'raw'}]`)!.checked = true;
  $('ckpt-interp', HTMLSelectElement).value = r.preprocess.interpolation;
  state.customFile = { name: new URL(r.url).pathname.split('/').pop() ?? `${r.model}.safetensors`, bytes: r.bytes };
  await loadCustom();
}

let formatUrls: string[] = [];

async function makeDeployFiles(): Promise<void> {
  const model = activeModel();
  if (!model) throw new Error('load a model first');
  if (!state.image) throw new Error('choose an image first: the files are timed on it');
  const { input } = model.pipeline.prepare(state.image.rgb);
  const rows: FormatRow[] = await makeFormats(model.web, model.graphs.deploy, input, model.pipeline.size, LATENCY_RUNS);
  for (const u of formatUrls) URL.revokeObjectURL(u);
  formatUrls = rows.map((r) => r.url);
  const body = $('formats', HTMLTableElement).tBodies[0]!;
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement('tr');
      const label = r.precision === 'fp32' ? 'float32' : `${r.precision} weights`;
      const share = r.precision === 'fp32' ? '' : ` (${((100 * r.bytes) / rows[0]!.bytes).toFixed(0)} %)`;
      const cells = [
        label,
        `${(r.bytes / 1e6).toFixed(2)} MB${share}`,
        ms(r.latencyMs),
        r.precision === 'fp32' ? '–' : r.maxDiff.toExponential(1),
      ];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      const a = document.createElement('a');
      a.href = r.url;
      a.download = `${model.loaded.spec.name}-${r.precision}.onnx`;
      a.textContent = 'download';
      const td = document.createElement('td');
      td.append(a);
      tr.append(td);
      return tr;
    }),
  );
  hook.formats = rows.map(({ precision, bytes, latencyMs, maxDiff }) => ({ precision, bytes, latencyMs, maxDiff }));
}

// ---- images and classification -----------------------------------------------------------

function activeModel(): PageModel | null {
  return state.active === 'fashion' ? state.fashion : state.custom;
}

async function setImage(input: Blob | Uint8Array, name: string): Promise<void> {
  const decoded = await decodeImageBlob(input, { name });
  state.image = { rgb: decoded, name };
  const note = decoded.hadAlpha && !decoded.alphaExact ? ' (transparent pixels approximated: no WebGL)' : '';
  $('image-name').textContent = `${name}, ${decoded.width}×${decoded.height}${note}`;
  await classifyCurrent();
}

async function classifyCurrent(): Promise<void> {
  const model = activeModel();
  if (!state.image) return;
  if (!model) {
    throw new Error(
      state.active === 'custom'
        ? 'load a checkpoint first (step 1), or switch to the Fashion-MNIST model'
        : 'the shipped Fashion-MNIST model is not loaded',
    );
  }
  const r = await model.classify(state.image.rgb, 5, LATENCY_RUNS);
  renderResult(model, r);
  recordResult(state.active, model, r, state.image.name);
}

function renderResult(model: PageModel, r: Classification): void {
  paintRgb($('seen', HTMLCanvasElement), r.picture);
  $('seen-size').textContent = `(${r.picture.width}×${r.picture.height})`;
  renderTopk($('topk', HTMLOListElement), r.top);
  const c = model.counts;
  $('lat-train').textContent = r.latency.train === null ? 'n/a' : ms(r.latency.train);
  $('lat-deploy').textContent = ms(r.latency.deploy);
  $('params-train').textContent = model.loaded.form === 'train' ? millions(c.train.params) : 'n/a';
  $('params-deploy').textContent = millions(c.deploy.params);
  $('macs-train').textContent = model.loaded.form === 'train' ? millions(c.train.flops) : 'n/a';
  $('macs-deploy').textContent = millions(c.deploy.flops);
  const diff = r.formDiff === null ? '' : ` max |train − deploy| logit difference ${r.formDiff.toExponential(1)}.`;
  $('result-info').textContent =
    `${model.loaded.spec.name} on ${runtimeLabel()}; batch 1, median of ${r.latency.runs} runs per form.${diff} ` +
    `Input: ${model.pipeline.describe}.`;
  $('result').dataset.ready = 'true';
}

// ---- wiring --------------------------------------------------------------------------------

function selectSlot(slot: ModelSlot): void {
  state.active = slot;
  for (const s of ['fashion', 'custom'] as const) {
    $(`tab-${s}`).setAttribute('aria-selected', String(s === slot));
    $(`panel-${s}`).hidden = s !== slot;
  }
  hook.active = slot;
}

function wire(): void {
  $('error')
    .querySelector('.close')!
    .addEventListener('click', () => clearError($('error')));

  const modelSelect = $('ckpt-model', HTMLSelectElement);
  for (const n of modelNames().filter((n) => n.startsWith('repghostnet_') && !/^repghostnet_\d{3}$/.test(n))) {
    modelSelect.append(new Option(n, n));
  }

  for (const slot of ['fashion', 'custom'] as const) {
    $(`tab-${slot}`).addEventListener(
      'click',
      queued('switch model', async () => {
        selectSlot(slot);
        if (activeModel()) await classifyCurrent();
      }),
    );
  }

  const ep = $('ep', HTMLSelectElement);
  let lastEp = ep.value;
  ep.addEventListener(
    'change',
    queued('execution provider', async () => {
      try {
        await selectBackend(ep.value as WebBackend | 'auto');
        lastEp = ep.value;
      } catch (e) {
        ep.value = lastEp; // the runtime did not change: say so in the control too
        throw e;
      }
      await classifyCurrent();
    }),
  );

  const pretrainedSelect = $('pretrained-model', HTMLSelectElement);
  for (const name of pretrainedModels()) pretrainedSelect.append(new Option(name, name));
  $('pretrained-load').addEventListener('click', queued('published weights', loadPretrained));
  $('formats-make').addEventListener('click', queued('deploy files', makeDeployFiles));

  $('ckpt-file').addEventListener('change', (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    void enqueue('checkpoint', async () => {
      state.customFile = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
      input.value = ''; // choosing the same file again must fire 'change' again
      await loadCustom();
    });
  });
  modelSelect.addEventListener('change', queued('checkpoint', loadCustom));
  for (const r of document.querySelectorAll('input[name=ckpt-ema]'))
    r.addEventListener('change', queued('checkpoint', loadCustom));
  $('ckpt-interp').addEventListener(
    'change',
    queued('resize', async () => {
      if (!state.custom) return;
      state.custom = state.custom.withPipeline(imagenetPipeline(customRequest().interp));
      if (state.active === 'custom') await classifyCurrent();
    }),
  );
  $('fashion-invert').addEventListener(
    'change',
    queued('invert', async () => {
      if (!state.fashion) return;
      state.fashion = state.fashion.withPipeline(
        fashionPipeline(state.fashionConfig, $('fashion-invert', HTMLSelectElement).value as InvertMode),
      );
      if (state.active === 'fashion') await classifyCurrent();
    }),
  );

  $('image-file').addEventListener('change', (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    input.value = '';
    void enqueue('image', () => setImage(file, file.name));
  });

  const drop = $('drop');
  // Dropping anywhere on the page is an image drop; the browser must not navigate to the file.
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) drop.classList.remove('over');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void enqueue('image', () => setImage(file, file.name));
  });
  document.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])][0];
    if (file) void enqueue('image', () => setImage(file, file.name || 'pasted image'));
  });

  const canvas = $('draw', HTMLCanvasElement);
  const pad = drawPad(
    canvas,
    queued('drawing', async () => {
      const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
      if (blob) await setImage(blob, 'drawing');
    }),
  );
  $('draw-clear').addEventListener('click', () => pad.clear());
}

async function start(): Promise<void> {
  wire();
  await enqueue('start', async () => {
    await selectBackend($('ep', HTMLSelectElement).value as WebBackend | 'auto');
    await loadFashion();
  });
  hook.ready = true;
  document.body.dataset.state = 'idle';
}

void start();
