import { formatParameters, withPngText } from '../../models/png-text.ts';
import type { FromWorker, GenerateParams, ToWorker } from './protocol.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const query = new URLSearchParams(location.search);
const edge = query.get('edge') ?? location.origin;
const backend = (query.get('backend') ?? 'auto') as 'auto' | 'webgpu' | 'wasm';
const model = query.get('model') ?? 'emoji';
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);
const status = $('status');
const canvas = $<HTMLCanvasElement>('canvas');
let current = 0;
/** What each run was started with: the form may change while it runs. */
const started = new Map<number, GenerateParams>();
let loadedModel = model;
let imageSize = 32;
let initRgba: Uint8ClampedArray | undefined;

// Every parameter can come from the URL, so a share link reproduces an image exactly.
for (const id of ['prompt', 'negative', 'steps', 'guidance', 'sampler', 'seed', 'strength']) {
  const v = query.get(id);
  if (v !== null) $<HTMLInputElement>(id).value = v;
}
if (query.get('upscale') === '1') $<HTMLInputElement>('upscale').checked = true;

function params(): GenerateParams {
  const v = (id: string) => $<HTMLInputElement>(id).value;
  return {
    prompt: v('prompt'),
    negative: v('negative'),
    steps: Number(v('steps')),
    guidance: Number(v('guidance')),
    sampler: v('sampler'),
    seed: Number(v('seed')),
    upscale: $<HTMLInputElement>('upscale').checked,
    init: initRgba ? { rgba: initRgba, strength: Number(v('strength')) } : undefined,
  };
}

function shareLink(p: GenerateParams): string {
  const q = new URLSearchParams({ prompt: p.prompt, negative: p.negative, steps: String(p.steps), guidance: String(p.guidance), sampler: p.sampler, seed: String(p.seed), model });
  if (p.upscale) q.set('upscale', '1');
  if (p.init) q.set('strength', String(p.init.strength));
  return `${location.origin}${location.pathname}?${q}`;
}

function draw(width: number, height: number, rgba: Uint8ClampedArray): void {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

function busy(on: boolean): void {
  $<HTMLButtonElement>('generate').disabled = on;
  $<HTMLButtonElement>('cancel').disabled = !on;
}

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'download':
      // Finished files, "path:cached|fetched", for people debugging downloads and for the e2e test.
      if (m.loaded === m.total) document.body.dataset.downloads = `${document.body.dataset.downloads ?? ''} ${m.file}:${m.cached ? 'cached' : 'fetched'}`.trim();
      status.textContent = `${m.cached ? 'Verified cached' : 'Downloading'} ${m.file}: ${((100 * m.loaded) / m.total).toFixed(0)} %`;
      break;
    case 'loaded':
      imageSize = m.imageSize;
      status.textContent = `Ready: ${m.model}@${m.version} on ${m.backend.toUpperCase()}`;
      loadedModel = `${m.model}@${m.version}`;
      document.body.dataset.backend = m.backend;
      document.body.dataset.ready = 'true';
      if (!query.get('steps')) $<HTMLInputElement>('steps').value = String(m.defaults.steps);
      if (!query.get('guidance')) $<HTMLInputElement>('guidance').value = String(m.defaults.guidance);
      if (!query.get('prompt') && m.examples.length > 0) $<HTMLInputElement>('prompt').value = m.examples[0];
      // Example prompts: one click fills the prompt and generates.
      $('examples').replaceChildren(
        ...m.examples.map((text) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = text;
          b.addEventListener('click', () => {
            $<HTMLInputElement>('prompt').value = text;
            $<HTMLFormElement>('form').requestSubmit();
          });
          return b;
        }),
      );
      busy(false);
      break;
    case 'progress':
      if (m.id !== current) break;
      $<HTMLProgressElement>('progress').value = m.step / m.total;
      $('timing').textContent = `step ${m.step}/${m.total}, ${m.msPerStep.toFixed(0)} ms/step`;
      if (m.preview) draw(m.preview.width, m.preview.height, m.preview.rgba);
      break;
    case 'done': {
      if (m.id !== current) break;
      draw(m.width, m.height, m.rgba);
      busy(false);
      const p = started.get(m.id) ?? params();
      started.delete(m.id);
      $('timing').textContent = `${(m.ms / 1000).toFixed(2)} s on ${m.backend.toUpperCase()}`;
      status.textContent = 'Done';
      document.body.dataset.done = String(m.id);
      const fig = document.createElement('figure');
      const img = document.createElement('img');
      img.src = canvas.toDataURL('image/png');
      img.alt = p.prompt;
      const link = document.createElement('a');
      // The downloaded PNG carries its generation parameters (tEXt 'parameters'), as other generators' do.
      const text = formatParameters({ ...p, model: loadedModel, size: m.width, strength: p.init?.strength });
      canvas.toBlob(async (blob) => {
        if (blob) link.href = URL.createObjectURL(new Blob([withPngText(new Uint8Array(await blob.arrayBuffer()), { parameters: text }) as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
      }, 'image/png');
      link.href = img.src;
      link.download = `${p.prompt.replace(/[^a-z0-9]+/gi, '-')}-${p.seed}.png`;
      link.textContent = 'download';
      const share = document.createElement('a');
      share.href = shareLink(p);
      share.textContent = 'share';
      fig.append(img, document.createTextNode(`${p.prompt} (seed ${p.seed}) `), link, document.createTextNode(' '), share);
      $('gallery').prepend(fig);
      break;
    }
    case 'error':
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
  const p = params();
  current += 1;
  busy(true);
  status.className = '';
  status.textContent = 'Generating…';
  $<HTMLProgressElement>('progress').value = 0;
  $<HTMLAnchorElement>('share').href = shareLink(p);
  started.set(current, p);
  send({ type: 'generate', id: current, params: p });
});
$('cancel').addEventListener('click', () => send({ type: 'cancel', id: current }));
$('dice').addEventListener('click', () => ($<HTMLInputElement>('seed').value = String(Math.floor(Math.random() * 2 ** 32))));
$<HTMLInputElement>('init').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return (initRgba = undefined);
  const bitmap = await createImageBitmap(file);
  const c = new OffscreenCanvas(imageSize, imageSize);
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, imageSize, imageSize);
  ctx.drawImage(bitmap, 0, 0, imageSize, imageSize);
  initRgba = ctx.getImageData(0, 0, imageSize, imageSize).data;
});

send({ type: 'load', edge, model, backend });
