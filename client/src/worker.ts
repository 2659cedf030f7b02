/// <reference lib="webworker" />
import { BUNDLE_FILES, CLIENT_FILES_AT_LOAD, parseManifest, type Manifest } from '../../models/bundle/manifest.ts';
import { floatToRgba, rgbaToFloat } from '../../models/image.ts';
import { generate, GenerationAbortedError, upscaleImage } from '../../models/pipeline/generate.ts';
import type { DiffusionRuntime, Tensor } from '../../models/pipeline/runtime.ts';
import { batchToImages, imagesToBatch } from '../../models/pipeline/layout.ts';
import { bundleRuntime } from '../../models/pipeline/ort-runtime.ts';
import { HALF_PRECISION_MAX_DIFF, halfPrecisionImageDiff } from '../../models/pipeline/precision-check.ts';
import { fetchVerified, isCached } from './model-cache.ts';
import { ORT_SIZES, ORT_WASM } from './ort-files.ts';
import { chooseDevice, openWebSessions, type WebSessions } from './ort-sessions.ts';
import { type FromWorker, type GenerateParams, PREVIEW_EVERY, type RgbaImage, type ToWorker } from './protocol.ts';

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
  const { device, shaderF16 } = await chooseDevice(msg.backend);
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
  const full = await openWebSessions(device, msg.backend === 'webgpu', download, [BUNDLE_FILES.unet, BUNDLE_FILES.vaeDecoder]);
  const { sessions, halfPrecision } = await choosePrecision(full, manifest, shaderF16 && msg.precision !== 'fp32');
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
    precision: sessions.precision,
    halfPrecision,
  });
}

/**
 * On an adapter with `shader-f16`, the U-Net in float16 if its image matches the float32 one's within
 * HALF_PRECISION_MAX_DIFF (a short generation both ways, once per load); float32 otherwise, and wherever the
 * float16 graph will not create or run.
 */
async function choosePrecision(
  full: WebSessions,
  manifest: Manifest,
  tryHalf: boolean,
): Promise<{ sessions: WebSessions; halfPrecision: { maxDiff: number } | { error: string } | 'unavailable' }> {
  if (!tryHalf || full.device !== 'webgpu') return { sessions: full, halfPrecision: 'unavailable' };
  const half = full.withHalfPrecisionUnet();
  try {
    const runtime = (s: WebSessions) => bundleRuntime(s.ort, manifest.files, s, { encoder: false, upscaler: false });
    const maxDiff = await halfPrecisionImageDiff(await runtime(full), await runtime(half), manifest);
    return { sessions: maxDiff <= HALF_PRECISION_MAX_DIFF ? half : full, halfPrecision: { maxDiff } };
  } catch (e) {
    return { sessions: full, halfPrecision: { error: e instanceof Error ? e.message : String(e) } };
  }
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
async function job(id: number, work: (l: Loaded, signal: AbortSignal) => Promise<{ image: Tensor; deviceReads: number }>): Promise<void> {
  const l = loaded;
  if (!l) throw Object.assign(new Error('no model loaded'), { code: 'not_loaded' });
  const abort = new AbortController();
  running.set(id, abort);
  const t0 = performance.now();
  try {
    const { image, deviceReads } = await work(l, abort.signal);
    const out = toRgba(image);
    post({ type: 'done', id, ...out, ms: performance.now() - t0, backend: l.sessions.device, deviceReads }, [out.rgba.buffer]);
  } finally {
    running.delete(id);
  }
}

/**
 * Runs `work` on a runtime over the sessions it needs (the encoder or upscaler created on first use), surviving
 * a lost GPU: if it fails on WebGPU, the bundle moves to WASM, the page is told, and the work runs again there
 * from its first step with the same seed — its latents lived on the lost device — so the image is the one
 * WASM would have made.
 */
async function onRuntime(
  l: Loaded,
  needs: { encoder?: boolean; upscaler?: boolean },
  work: (runtime: DiffusionRuntime) => Promise<Tensor>,
): Promise<{ image: Tensor; deviceReads: number }> {
  const attempt = async () => {
    const runtime = await bundleRuntime(l.sessions.ort, l.manifest.files, l.sessions, needs);
    const image = await work(runtime);
    return { image, deviceReads: runtime.deviceReads?.() ?? 0 };
  };
  try {
    return await attempt();
  } catch (e) {
    if (e instanceof GenerationAbortedError || l.sessions.device !== 'webgpu') throw e;
    l.sessions = await l.sessions.onWasm();
    post({ type: 'device', backend: 'wasm', reason: e instanceof Error ? e.message : String(e) });
    return attempt();
  }
}

const upscale = (id: number, image: RgbaImage, seed: number) =>
  job(id, (l, signal) =>
    onRuntime(l, { upscaler: true }, (runtime) =>
      upscaleImage(runtime, l.manifest, imagesToBatch([rgbaToFloat(image.rgba, image.width, image.height)]), seed, {
        signal,
        yieldToEvents,
      }),
    ),
  );

const run = (id: number, p: GenerateParams) =>
  job(id, async (l, signal) => {
    const { cond, uncond } = await embeddings(l, p.prompt, p.negative);
    const size = l.manifest.imageSize;
    const init = p.init ? { image: imagesToBatch([rgbaToFloat(p.init.rgba, size, size)]), strength: p.init.strength } : undefined;
    return onRuntime(l, { encoder: Boolean(init), upscaler: p.upscale }, (runtime) => {
      let last = performance.now();
      return generate(runtime, l.manifest, {
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
        previewEvery: PREVIEW_EVERY,
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
