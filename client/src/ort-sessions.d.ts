import type * as OrtWeb from 'onnxruntime-web';
import type { SessionProvider } from '../../models/pipeline/ort-runtime.ts';
export type Ort = typeof OrtWeb;
export type Device = 'webgpu' | 'wasm';
/** The device a request asks for: WebGPU when asked or (for 'auto') when an adapter exists, else WASM. */
export declare function chooseDevice(request: 'auto' | Device): Promise<Device>;
export interface WebSessions extends SessionProvider {
  readonly device: Device;
  readonly ort: Ort;
  /** The same files' sessions on WASM (created as they are needed): where a run goes when the GPU is lost. */
  onWasm(): Promise<WebSessions>;
  /** Destroys the WebGPU device, as a driver reset would: the switch the recovery test pulls. No-op on WASM. */
  loseDevice(): Promise<void>;
}
/**
 * onnxruntime-web sessions for a bundle on the chosen device, with the files needed at load created up front.
 * On WebGPU chosen automatically, a session that fails to create (an adapter whose limits do not fit the model)
 * falls back to WASM; WebGPU asked for explicitly fails instead.
 */
export declare function openWebSessions(
  device: Device,
  strict: boolean,
  download: (file: string) => Promise<Uint8Array>,
  atLoad: readonly string[],
): Promise<WebSessions>;
