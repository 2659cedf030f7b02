/// <reference lib="webworker" />
import type * as OrtWeb from 'onnxruntime-web';
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

async function webgpuUsable(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return Boolean(await gpu.requestAdapter());
  } catch {
    return false;
  }
}

/** The device a request asks for: WebGPU when asked or (for 'auto') when an adapter exists, else WASM. */
export async function chooseDevice(request: 'auto' | Device): Promise<Device> {
  if (request === 'wasm') return 'wasm';
  const usable = await webgpuUsable();
  if (request === 'webgpu' && !usable)
    throw Object.assign(new Error('WebGPU is not available in this browser'), { code: 'webgpu_unavailable' });
  return usable ? 'webgpu' : 'wasm';
}

export interface WebSessions extends SessionProvider {
  readonly device: Device;
  readonly ort: Ort;
  /** The same files' sessions on WASM (created as they are needed): where a run goes when the GPU is lost. */
  onWasm(): Promise<WebSessions>;
  /** Destroys the WebGPU device, as a driver reset would: the switch the recovery test pulls. No-op on WASM. */
  loseDevice(): Promise<void>;
}

/** Sessions on one device; created one at a time (the WebGPU provider refuses concurrent creation) while files download freely. */
async function sessionsOn(device: Device, download: (file: string) => Promise<Uint8Array>): Promise<WebSessions> {
  const ort = await importOrt(device);
  const sessions = new Map<string, Promise<OrtWeb.InferenceSession>>();
  let queue: Promise<unknown> = Promise.resolve();
  const self: WebSessions = {
    device,
    ort,
    onWasm: () => (device === 'wasm' ? Promise.resolve(self) : sessionsOn('wasm', download)),
    async loseDevice() {
      if (device === 'webgpu') ((await ort.env.webgpu.device) as unknown as { destroy(): void }).destroy();
    },
    session(file) {
      let s = sessions.get(file);
      if (!s) {
        const bytes = download(file);
        s = queue.then(async () => ort.InferenceSession.create(await bytes, { executionProviders: [device] }));
        queue = s.catch(() => undefined);
        sessions.set(file, s);
      }
      return s;
    },
  };
  return self;
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
