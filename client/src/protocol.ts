import type { GenerationParameters } from '../../models/png-text.ts';

/** Messages between the page and the generation worker. */
export interface GenerateParams extends Pick<GenerationParameters, 'prompt' | 'negative' | 'steps' | 'guidance' | 'sampler' | 'seed'> {
  /** img2img: RGBA pixels of the init image at the model's size, and the strength. */
  init?: { rgba: Uint8ClampedArray; strength: number };
  upscale: boolean;
}

export type ToWorker =
  | { type: 'load'; edge: string; model: string; backend: 'auto' | 'webgpu' | 'wasm' }
  | { type: 'generate'; id: number; params: GenerateParams }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'loaded'; backend: 'webgpu' | 'wasm'; model: string; version: string; imageSize: number; defaults: { steps: number; guidance: number; sampler: string }; examples: string[] }
  | { type: 'download'; file: string; loaded: number; total: number; cached: boolean }
  | { type: 'progress'; id: number; step: number; total: number; msPerStep: number; preview?: { width: number; height: number; rgba: Uint8ClampedArray } }
  | { type: 'done'; id: number; width: number; height: number; rgba: Uint8ClampedArray; ms: number; backend: string }
  | { type: 'error'; id?: number; code: string; message: string };
