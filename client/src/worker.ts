/// <reference lib="webworker" />
import { BUNDLE_FILES, CLIENT_FILES_AT_LOAD, parseManifest, type Manifest } from '../../models/bundle/manifest.ts';
import { floatToRgba, rgbaToFloat } from '../../models/image.ts';
import { generate, GenerationAbortedError, upscaleImage } from '../../models/pipeline/generate.ts';
import type { DiffusionRuntime, Tensor, UnetCall, UpscalerCall } from '../../models/pipeline/runtime.ts';
import { batchToImages, imagesToBatch } from '../../models/pipeline/layout.ts';
import { bundleRuntime } from '../../models/pipeline/ort-runtime.ts';
import { fetchVerified, isCached } from './model-cache.ts';
import { ORT_SIZES, ORT_WASM } from './ort-files.ts';
import { chooseDevice, openWebSessions, type WebSessions } from './ort-sessions.ts';
import type { FromWorker, GenerateParams, RgbaImage, ToWorker } from './protocol.ts';

declare const self: DedicatedWorkerGlobalScope;
const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);

interface Loaded {
  edge: string;
  manifest: Manifest;
  /** The U-Net and VAE decoder are created at load; the encoder (img2img) and upscaler on first use. */
  sessions: WebSessions;
}
let loaded: Loaded | undefined;

// A macrotask boundary without setTimeout's clamping: lets a cancel message in between steps.
const channel = new MessageChannel();
const yieldToEvents = () =>
  new Promise<void>((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });
const running = new Map<number, AbortController>();

async function load(msg: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const res = await fetch(`${msg.edge}/v1/models/${msg.model}`);
  if (!res.ok) throw Object.assign(new Error(`model ${msg.model}: HTTP ${res.status}`), { code: 'model_unavailable' });
  const manifest = parseManifest(await res.json());
  const file = async (path: string) => {
    const f = manifest.files[path];
    return fetchVerified(`${msg.edge}/v1/models/${manifest.name}/${manifest.version}/${path}`, f.sha256, f.size, (l, t, cached) =>
      post({ type: 'download', file: path, loaded: l, total: t, cached }),
    );
  };
  const paths = CLIENT_FILES_AT_LOAD.filter((p) => manifest.files[p]);
  const device = await chooseDevice(msg.backend);
  const uncached = await Promise.all(paths.map(async (p) => ((await isCached(manifest.files[p].sha256)) ? 0 : manifest.files[p].size)));
  const sizes = (await fetch(new URL(`./ort/${ORT_SIZES}`, self.location.href))
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))) as Record<string, number>;
  const runtimeBytes = sizes[ORT_WASM[device]];
  post({ type: 'plan', modelBytes: uncached.reduce((a, b) => a + b, 0), runtimeBytes, backend: device });
  const downloads = new Map<string, Promise<Uint8Array>>(paths.map((p) => [p, file(p)]));
  const download = (path: string) => {
    if (!downloads.has(path)) downloads.set(path, file(path));
    return downloads.get(path)!;
  };
  const sessions = await openWebSessions(device, msg.backend === 'webgpu', download, [BUNDLE_FILES.unet, BUNDLE_FILES.vaeDecoder]);
  loaded = { edge: msg.edge, manifest, sessions };
  post({
    type: 'loaded',
    backend: sessions.device,
    model: manifest.name,
    version: manifest.version,
    imageSize: manifest.imageSize,
    defaults: manifest.diffusion.defaults,
    examples: manifest.examples ?? [],
    attribution: manifest.attribution,
    canUpscale: Boolean(manifest.files[BUNDLE_FILES.upscaler]),
  });
}

async function embeddings(l: Loaded, prompt: string, negative: string): Promise<{ cond: Tensor; uncond: Tensor }> {
  const res = await fetch(`${l.edge}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: `${l.manifest.name}@${l.manifest.version}`,
      prompts: [prompt],
      negative_prompt: negative,
      format: 'f32',
    }),
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    throw Object.assign(new Error(body.error?.message ?? `embeddings: HTTP ${res.status}`), {
      code: body.error?.code ?? 'embeddings_failed',
    });
  }
  const data = new Float32Array(await res.arrayBuffer());
  const [, T, D] = (res.headers.get('x-embedding-dims') ?? '').split(',').map(Number);
  const size = T * D;
  return { cond: { data: data.slice(0, size), dims: [1, T, D] }, uncond: { data: data.slice(size, 2 * size), dims: [1, T, D] } };
}

const toRgba = (t: Tensor) => {
  const [img] = batchToImages(t.data, t.dims);
  return { width: img.width, height: img.height, rgba: floatToRgba(img) };
};

/** Runs one job (generation or upscale) with its cancel handle; posts its result as `done`. */
async function job(id: number, work: (l: Loaded, signal: AbortSignal) => Promise<Tensor>): Promise<void> {
  const l = loaded;
  if (!l) throw Object.assign(new Error('no model loaded'), { code: 'not_loaded' });
  const abort = new AbortController();
  running.set(id, abort);
  const t0 = performance.now();
  try {
    const out = toRgba(await work(l, abort.signal));
    post({ type: 'done', id, ...out, ms: performance.now() - t0, backend: l.sessions.device }, [out.rgba.buffer]);
  } finally {
    running.delete(id);
  }
}

/**
 * The runtime over the sessions a job needs (creating the encoder or upscaler on first use), surviving a lost
 * GPU: a call that fails on WebGPU moves the bundle to WASM, says so, and is made again there. Every call takes
 * its inputs from the CPU, so the run goes on from the same step with the same values and seed.
 */
async function runtimeFor(l: Loaded, needs: { encoder?: boolean; upscaler?: boolean }): Promise<DiffusionRuntime> {
  let runtime = await bundleRuntime(l.sessions.ort, l.manifest.files, l.sessions, needs);
  const resilient =
    <A extends unknown[]>(call: (r: DiffusionRuntime, ...args: A) => Promise<Tensor>) =>
    async (...args: A): Promise<Tensor> => {
      try {
        return await call(runtime, ...args);
      } catch (e) {
        if (l.sessions.device !== 'webgpu') throw e;
        l.sessions = await l.sessions.onWasm();
        post({ type: 'device', backend: 'wasm', reason: e instanceof Error ? e.message : String(e) });
        runtime = await bundleRuntime(l.sessions.ort, l.manifest.files, l.sessions, needs);
        return call(runtime, ...args);
      }
    };
  return {
    unet: resilient((r, inputs: UnetCall) => r.unet(inputs)),
    decode: resilient((r, latents: Tensor) => r.decode(latents)),
    encode: runtime.encode && resilient((r, image: Tensor) => r.encode!(image)),
    upscale: runtime.upscale && resilient((r, inputs: UpscalerCall) => r.upscale!(inputs)),
  };
}

const upscale = (id: number, image: RgbaImage, seed: number) =>
  job(id, async (l, signal) =>
    upscaleImage(
      await runtimeFor(l, { upscaler: true }),
      l.manifest,
      imagesToBatch([rgbaToFloat(image.rgba, image.width, image.height)]),
      seed,
      { signal, yieldToEvents },
    ),
  );

const run = (id: number, p: GenerateParams) =>
  job(id, async (l, signal) => {
    const { cond, uncond } = await embeddings(l, p.prompt, p.negative);
    const size = l.manifest.imageSize;
    const init = p.init ? { image: imagesToBatch([rgbaToFloat(p.init.rgba, size, size)]), strength: p.init.strength } : undefined;
    let last = performance.now();
    return generate(await runtimeFor(l, { encoder: Boolean(init), upscaler: p.upscale }), l.manifest, {
      cond,
      uncond,
      steps: p.steps,
      guidance: p.guidance,
      sampler: p.sampler,
      seed: p.seed,
      init,
      upscale: p.upscale,
      signal,
      yieldToEvents,
      previewEvery: 4,
      onStep: ({ step, total, preview }) => {
        const now = performance.now();
        const msPerStep = now - last;
        last = now;
        if (step === p.loseDeviceAtStep) void l.sessions.loseDevice();
        const pv = preview ? toRgba(preview) : undefined;
        post({ type: 'progress', id, step, total, msPerStep, preview: pv }, pv ? [pv.rgba.buffer] : []);
      },
    });
  });

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  const fail = (id: number | undefined) => (e: unknown) => {
    const err = e as Error & { code?: string };
    post({
      type: 'error',
      id,
      code: err instanceof GenerationAbortedError ? 'aborted' : (err.code ?? 'failed'),
      message: err.message ?? String(e),
    });
  };
  if (msg.type === 'load') load(msg).catch(fail(undefined));
  else if (msg.type === 'generate') run(msg.id, msg.params).catch(fail(msg.id));
  else if (msg.type === 'upscale') upscale(msg.id, msg.image, msg.seed).catch(fail(msg.id));
  else running.get(msg.id)?.abort();
};
