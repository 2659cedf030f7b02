/// <reference lib="webworker" />
import type * as OrtWeb from 'onnxruntime-web';
import { GRAPHS } from '../../models/bundle/graphs.ts';
import type { SessionProvider } from '../../models/pipeline/ort-runtime.ts';

export type Ort = typeof OrtWeb;
export type Device = 'webgpu' | 'wasm';

declare const self: DedicatedWorkerGlobalScope;

async function importOrt(device: Device): Promise<Ort> {
  const ort = (device === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm')) as Ort;
  ort.env.wasm.wasmPaths = new URL('./ort/', self.location.href).href;
  // Threads need cross-origin isolation (the edge sends COOP/COEP); otherwise ORT runs single-threaded.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  return ort;
}

interface Adapter {
  features: { has(name: string): boolean };
}

async function webgpuAdapter(): Promise<Adapter | undefined> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  try {
    return (await gpu?.requestAdapter()) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The device a request asks for — WebGPU when asked or (for 'auto') when an adapter exists, else WASM — and
 * whether that adapter computes in float16 (`shader-f16`).
 */
export async function chooseDevice(request: 'auto' | Device): Promise<{ device: Device; shaderF16: boolean }> {
  if (request === 'wasm') return { device: 'wasm', shaderF16: false };
  const adapter = await webgpuAdapter();
  if (request === 'webgpu' && !adapter)
    throw Object.assign(new Error('WebGPU is not available in this browser'), { code: 'webgpu_unavailable' });
  return adapter ? { device: 'webgpu', shaderF16: adapter.features.has('shader-f16') } : { device: 'wasm', shaderF16: false };
}

export interface WebSessions extends SessionProvider {
  readonly device: Device;
  readonly ort: Ort;
  /** Whether the U-Net computes in float16. */
  readonly precision: 'fp32' | 'fp16';
  /** These sessions with the U-Net rewritten to float16 arithmetic (`halfPrecisionModel`): for `shader-f16` adapters. */
  withHalfPrecisionUnet(): WebSessions;
  /** The same files' sessions on WASM (created as they are needed): where a run goes when the GPU is lost. */
  onWasm(): Promise<WebSessions>;
  /** Destroys the WebGPU device, as a driver reset would: the switch the recovery test pulls. No-op on WASM. */
  loseDevice(): Promise<void>;
}

/**
 * Sessions on one device; created one at a time (the WebGPU provider refuses concurrent creation) while files
 * download freely. On WebGPU every output stays on the GPU (`gpu-buffer`): the runtime reads back only what it
 * needs, and the sampler graphs (`built`) keep the loop there.
 */
async function sessionsOn(device: Device, download: (file: string) => Promise<Uint8Array>): Promise<WebSessions> {
  const ort = await importOrt(device);
  const sessions = new Map<string, Promise<OrtWeb.InferenceSession>>();
  const options: OrtWeb.InferenceSession.SessionOptions = {
    executionProviders: [device],
    ...(device === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' } : {}),
  };
  // WebGPU's Conv needs its input channels in multiples of 4 (models/onnx/conv-channel-padding.ts).
  const forDevice = async (bytes: Uint8Array) =>
    device === 'webgpu' ? (await import('../../models/onnx/conv-channel-padding.ts')).padConvInputChannels(bytes) : bytes;
  let queue: Promise<unknown> = Promise.resolve();
  const create = (key: string, bytes: () => Promise<Uint8Array>) => {
    let s = sessions.get(key);
    if (!s) {
      const pending = bytes();
      s = queue.then(async () => ort.InferenceSession.create(await pending, options));
      queue = s.catch(() => undefined);
      sessions.set(key, s);
    }
    return s;
  };
  const provider = (precision: 'fp32' | 'fp16'): WebSessions => ({
    device,
    ort,
    precision,
    withHalfPrecisionUnet: () => provider('fp16'),
    onWasm: () => (device === 'wasm' ? Promise.resolve(provider(precision)) : sessionsOn('wasm', download)),
    async loseDevice() {
      if (device === 'webgpu') ((await ort.env.webgpu.device) as unknown as { destroy(): void }).destroy();
    },
    session: (file) =>
      precision === 'fp16' && file === GRAPHS.unet.file
        ? create(`${file}:fp16`, async () =>
            forDevice((await import('../../models/onnx/fp16-compute.ts')).halfPrecisionModel(await download(file))),
          )
        : create(file, async () => forDevice(await download(file))),
    built: device === 'webgpu' ? (name, bytes) => create(`built:${name}`, bytes) : undefined,
  });
  return provider('fp32');
}

/**
 * onnxruntime-web sessions for a bundle on the chosen device, with the files needed at load created up front.
 * On WebGPU chosen automatically, a session that fails to create (an adapter whose limits do not fit the model)
 * falls back to WASM; WebGPU asked for explicitly fails instead.
 */
export async function openWebSessions(
  device: Device,
  strict: boolean,
  download: (file: string) => Promise<Uint8Array>,
  atLoad: readonly string[],
): Promise<WebSessions> {
  const s = await sessionsOn(device, download);
  try {
    await Promise.all(atLoad.map((f) => s.session(f)));
    return s;
  } catch (e) {
    if (device !== 'webgpu' || strict) throw e;
  }
  const wasm = await sessionsOn('wasm', download);
  await Promise.all(atLoad.map((f) => wasm.session(f)));
  return wasm;
}
