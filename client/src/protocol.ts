import type { GenerationParameters } from '../../models/png-text.ts';

/** Messages between the page and the generation worker. */
export interface GenerateParams extends Pick<GenerationParameters, 'prompt' | 'negative' | 'steps' | 'guidance' | 'sampler' | 'seed'> {
  /** img2img: RGBA pixels of the init image at the model's size, and the strength. */
  init?: { rgba: Uint8ClampedArray; strength: number };
  upscale: boolean;
  /** Destroy the WebGPU device after this step, as a driver reset would (`?loseDeviceAtStep=N`: the recovery test). */
  loseDeviceAtStep?: number;
}

export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

export type ToWorker =
  | { type: 'load'; edge: string; model: string; backend: 'auto' | 'webgpu' | 'wasm' }
  | { type: 'generate'; id: number; params: GenerateParams }
  /** 2× an image the model made (a gallery item) with the bundle's upscaler. */
  | { type: 'upscale'; id: number; image: RgbaImage; seed: number }
  | { type: 'cancel'; id: number };

export type FromWorker =
  /** Before any download: what the first visit will fetch (files already cached are not counted). */
  | { type: 'plan'; modelBytes: number; runtimeBytes?: number; backend: 'webgpu' | 'wasm' }
  | {
      type: 'loaded';
      backend: 'webgpu' | 'wasm';
      model: string;
      version: string;
      imageSize: number;
      defaults: { steps: number; guidance: number; sampler: string };
      examples: string[];
      attribution?: string;
      canUpscale: boolean;
    }
  /** The GPU device was lost mid-run: the model now runs on WASM, and the run goes on there. */
  | { type: 'device'; backend: 'wasm'; reason: string }
  | { type: 'download'; file: string; loaded: number; total: number; cached: boolean }
  | { type: 'progress'; id: number; step: number; total: number; msPerStep: number; preview?: RgbaImage }
  | ({ type: 'done'; id: number; ms: number; backend: string } & RgbaImage)
  | { type: 'error'; id?: number; code: string; message: string };
