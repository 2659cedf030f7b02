import { formatParameters, withPngText, type GenerationParameters } from '../../models/png-text.ts';
import { galleryStore, type GalleryItem } from './gallery-store.ts';
import type { FromWorker, GenerateParams, RgbaImage, ToWorker } from './protocol.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const query = new URLSearchParams(location.search);
const edge = query.get('edge') ?? location.origin;
const backend = (query.get('backend') ?? 'auto') as 'auto' | 'webgpu' | 'wasm';
const model = query.get('model') ?? 'emoji';
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);
const status = $('status');
const canvas = $<HTMLCanvasElement>('canvas');
const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

let loadedModel = model;
let imageSize = 32;
let canUpscale = false;
let initRgba: Uint8ClampedArray | undefined;

/** Jobs by id with the parameters they were started with: the form may change while they run. */
let current = 0;
const jobs = new Map<number, GenerationParameters>();
/** The rest of a multi-image run (Count > 1), started one after another. */
let queue: GenerateParams[] = [];

/**
 * Guidance and strength are continuous. Arrow keys move them by the input's step, but the browser refuses to submit a number
 * off that grid, and any value in range must go through: typed, from a share link, or a model's default such as 1.73.
 */
const continuous = ['guidance', 'strength'].map(input);
function fitSteps(): void {
  for (const el of continuous) {
    el.dataset.grid ??= el.step;
    el.step = el.dataset.grid;
    if (el.validity.stepMismatch) el.step = 'any';
  }
}
for (const el of continuous) el.addEventListener('input', fitSteps);

// Every parameter can come from the URL, so a share link reproduces an image exactly.
for (const id of ['prompt', 'negative', 'steps', 'guidance', 'sampler', 'seed', 'strength']) {
  const v = query.get(id);
  if (v !== null) input(id).value = v;
}
fitSteps();
if (query.get('upscale') === '1') input('upscale').checked = true;

function formParams(): GenerateParams {
  const v = (id: string) => input(id).value;
  return {
    prompt: v('prompt'),
    negative: v('negative'),
    steps: Number(v('steps')),
    guidance: Number(v('guidance')),
    sampler: v('sampler'),
    seed: Number(v('seed')),
    upscale: input('upscale').checked,
    init: initRgba ? { rgba: initRgba, strength: Number(v('strength')) } : undefined,
    loseDeviceAtStep: query.has('loseDeviceAtStep') ? Number(query.get('loseDeviceAtStep')) : undefined,
  };
}

const recorded = (p: GenerateParams): GenerationParameters => ({
  prompt: p.prompt,
  negative: p.negative,
  steps: p.steps,
  guidance: p.guidance,
  sampler: p.sampler,
  seed: p.seed,
  model: loadedModel,
  size: imageSize * (p.upscale ? 2 : 1),
  strength: p.init?.strength,
  upscale: p.upscale || undefined,
});

function shareLink(p: GenerationParameters): string {
  const q = new URLSearchParams({
    prompt: p.prompt,
    negative: p.negative,
    steps: String(p.steps),
    guidance: String(p.guidance),
    sampler: p.sampler,
    seed: String(p.seed),
    model: p.model.split('@')[0],
  });
  if (p.upscale) q.set('upscale', '1');
  if (p.strength !== undefined) q.set('strength', String(p.strength));
  return `${location.origin}${location.pathname}?${q}`;
}

function draw({ width, height, rgba }: RgbaImage): void {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

function busy(on: boolean): void {
  $<HTMLButtonElement>('generate').disabled = on;
  $<HTMLButtonElement>('cancel').disabled = !on;
  for (const b of document.querySelectorAll<HTMLButtonElement>('#gallery button[data-needs-idle]')) b.disabled = on;
}

/** Decodes a PNG (a gallery item, an upload) to RGBA at the given size, on white. */
async function rgbaAt(source: Blob, size: number): Promise<Uint8ClampedArray> {
  const bitmap = await createImageBitmap(source);
  const c = new OffscreenCanvas(size, size);
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(bitmap, 0, 0, size, size);
  return ctx.getImageData(0, 0, size, size).data;
}

/** PNG bytes of an image with its generation parameters in a tEXt chunk, as other generators write them. */
async function pngWithParameters(image: RgbaImage, p: GenerationParameters): Promise<Blob> {
  const c = new OffscreenCanvas(image.width, image.height);
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.rgba), image.width, image.height), 0, 0);
  const png = new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer());
  return new Blob([withPngText(png, { parameters: formatParameters(p) }) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
}

function useAsInit(rgba: Uint8ClampedArray, label: string): void {
  initRgba = rgba;
  $('init-source').textContent = `init: ${label}`;
}

function actionButton(label: string, onClick: () => void, needsIdle = false): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (needsIdle) b.dataset.needsIdle = '';
  b.addEventListener('click', onClick);
  return b;
}

/** A gallery figure: the image, its caption, download and share links, and what can be done with it. */
function renderItem(item: GalleryItem): HTMLElement {
  const p = item.parameters;
  const fig = document.createElement('figure');
  fig.dataset.id = String(item.id);
  const url = URL.createObjectURL(item.png);
  const img = document.createElement('img');
  img.src = url;
  img.alt = p.prompt;
  const download = document.createElement('a');
  download.href = url;
  download.download = `${p.prompt.replace(/[^a-z0-9]+/gi, '-')}-${p.seed}${p.upscale ? '-2x' : ''}.png`;
  download.textContent = 'download';
  const share = document.createElement('a');
  share.href = shareLink(p);
  share.textContent = 'share';
  const caption = document.createElement('figcaption');
  caption.append(`${p.prompt} (seed ${p.seed}${p.upscale ? ', 2×' : ''}) `, download, ' ', share);
  const actions = document.createElement('div');
  actions.className = 'actions';
  const sameModel = p.model === loadedModel;
  actions.append(
    actionButton('reuse', () => {
      for (const [id, v] of [
        ['prompt', p.prompt],
        ['negative', p.negative],
        ['steps', p.steps],
        ['guidance', p.guidance],
        ['sampler', p.sampler],
        ['seed', p.seed],
      ] as const)
        input(id).value = String(v);
      if (p.strength !== undefined) input('strength').value = String(p.strength);
      fitSteps();
      input('upscale').checked = Boolean(p.upscale);
    }),
    actionButton('use as init', async () => useAsInit(await rgbaAt(item.png, imageSize), `gallery image "${p.prompt}" seed ${p.seed}`)),
  );
  if (sameModel && canUpscale && !p.upscale) {
    actions.append(
      actionButton(
        'upscale 2×',
        async () => {
          const id = startJob({ ...p, upscale: true, size: p.size * 2 });
          send({ type: 'upscale', id, image: { width: p.size, height: p.size, rgba: await rgbaAt(item.png, p.size) }, seed: p.seed });
        },
        true,
      ),
    );
  }
  actions.append(
    actionButton('delete', () => {
      galleryStore.remove(item.id).then(() => fig.remove(), showStorageError);
      URL.revokeObjectURL(url);
    }),
  );
  fig.append(img, caption, actions);
  return fig;
}

function showStorageError(e: unknown): void {
  status.className = 'error';
  status.textContent = `Gallery storage failed: ${(e as Error).message}`;
}

function startJob(p: GenerationParameters): number {
  current += 1;
  jobs.set(current, p);
  busy(true);
  status.className = '';
  status.textContent = p.upscale && !queue.length ? 'Working…' : 'Generating…';
  $<HTMLProgressElement>('progress').value = 0;
  $<HTMLAnchorElement>('share').href = shareLink(p);
  return current;
}

function generateNext(): void {
  const p = queue.shift();
  if (!p) return;
  const id = startJob(recorded(p));
  send({ type: 'generate', id, params: p });
}

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'plan':
      document.body.dataset.plan = JSON.stringify(m);
      status.textContent =
        m.modelBytes > 0
          ? `Downloading ${MB(m.modelBytes)} of model files${m.runtimeBytes ? ` and the ${MB(m.runtimeBytes)} ${m.backend.toUpperCase()} runtime` : ''} (first visit only)…`
          : 'Starting from cached model files…';
      break;
    case 'download':
      // Finished files, "path:cached|fetched", for people debugging downloads and for the e2e test.
      if (m.loaded === m.total)
        document.body.dataset.downloads = `${document.body.dataset.downloads ?? ''} ${m.file}:${m.cached ? 'cached' : 'fetched'}`.trim();
      if (!m.cached) status.textContent = `Downloading ${m.file}: ${((100 * m.loaded) / m.total).toFixed(0)} % of ${MB(m.total)}`;
      break;
    case 'loaded':
      imageSize = m.imageSize;
      canUpscale = m.canUpscale;
      status.textContent = `Ready: ${m.model}@${m.version} on ${m.backend.toUpperCase()}${m.precision === 'fp16' ? ' (float16)' : ''}`;
      document.body.dataset.precision = m.precision;
      document.body.dataset.halfPrecision = JSON.stringify(m.halfPrecision);
      loadedModel = `${m.model}@${m.version}`;
      document.body.dataset.backend = m.backend;
      document.body.dataset.ready = 'true';
      $('attribution').textContent = m.attribution ?? '';
      if (!query.get('steps')) input('steps').value = String(m.defaults.steps);
      if (!query.get('guidance')) input('guidance').value = String(m.defaults.guidance);
      fitSteps();
      if (!query.get('prompt') && m.examples.length > 0) input('prompt').value = m.examples[0];
      // Example prompts: one click fills the prompt and generates.
      $('examples').replaceChildren(
        ...m.examples.map((text) =>
          actionButton(text, () => {
            input('prompt').value = text;
            $<HTMLFormElement>('form').requestSubmit();
          }),
        ),
      );
      galleryStore.list().then((items) => $('gallery').replaceChildren(...items.map(renderItem)), showStorageError);
      busy(false);
      break;
    case 'device':
      $('notice').textContent =
        `The GPU was lost (${m.reason}); this run finishes on WASM (again from its first step, same seed), and so do the next ones.`;
      document.body.dataset.backend = m.backend;
      break;
    case 'progress':
      if (m.id !== current) break;
      $<HTMLProgressElement>('progress').value = m.step / m.total;
      $('timing').textContent =
        `step ${m.step}/${m.total}, ${m.msPerStep.toFixed(0)} ms/step${queue.length ? `, ${queue.length} more queued` : ''}`;
      if (m.preview) draw(m.preview);
      break;
    case 'done': {
      if (m.id !== current) break;
      draw(m);
      const p = jobs.get(m.id)!;
      jobs.delete(m.id);
      $('timing').textContent = `${(m.ms / 1000).toFixed(2)} s on ${m.backend.toUpperCase()}`;
      document.body.dataset.deviceReads = String(m.deviceReads);
      pngWithParameters(m, p)
        .then((png) => galleryStore.add({ createdAt: Date.now(), parameters: p, png }))
        .then((item) => {
          $('gallery').prepend(renderItem(item));
          // Counted after the item is in the gallery, so the e2e test sees both together.
          document.body.dataset.done = String(m.id);
        }, showStorageError);
      if (queue.length) generateNext();
      else {
        busy(false);
        status.textContent = 'Done';
      }
      break;
    }
    case 'error':
      queue = [];
      busy(false);
      status.textContent = m.code === 'aborted' ? 'Cancelled' : `Error: ${m.message}`;
      status.className = m.code === 'aborted' ? '' : 'error';
      document.body.dataset.cancelled = m.code === 'aborted' ? String(m.id) : '';
      if (m.id === undefined) document.body.dataset.ready = 'error';
      break;
  }
};

// The models the edge serves; picking one reloads the page on it (parameters kept, as in a share link).
const picker = $<HTMLSelectElement>('model');
picker.append(new Option(model, model, true, true));
fetch(`${edge}/v1/models`)
  .then((r) => (r.ok ? (r.json() as Promise<{ models: { name: string; imageSize: number }[] }>) : { models: [] }))
  .then(({ models }) => {
    for (const m of models) if (m.name !== model) picker.append(new Option(`${m.name} (${m.imageSize} px)`, m.name));
  })
  .catch(() => undefined); // the picker keeps the current model; generation does not depend on the list
picker.addEventListener('change', () => {
  const q = new URLSearchParams(location.search);
  q.set('model', picker.value);
  location.search = q.toString();
});

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const p = formParams();
  // Count N: seeds S, S+1, …, S+N−1, each its own gallery item.
  const count = Math.max(1, Math.min(16, Math.floor(Number(input('count').value)) || 1));
  queue = Array.from({ length: count }, (_, i) => ({ ...p, seed: (p.seed + i) >>> 0 }));
  generateNext();
});
$('cancel').addEventListener('click', () => {
  queue = [];
  send({ type: 'cancel', id: current });
});
$('dice').addEventListener('click', () => (input('seed').value = String(Math.floor(Math.random() * 2 ** 32))));
input('init').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) {
    initRgba = undefined;
    $('init-source').textContent = '';
    return;
  }
  useAsInit(await rgbaAt(file, imageSize), file.name);
});
$('clear-init').addEventListener('click', () => {
  initRgba = undefined;
  input('init').value = '';
  $('init-source').textContent = '';
});

send({ type: 'load', edge, model, backend, precision: query.get('precision') === 'fp32' ? 'fp32' : 'auto' });
