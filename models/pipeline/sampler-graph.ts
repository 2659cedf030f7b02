import type { StepPlan } from '../diffusion/samplers/types.ts';
import type { PipelineManifest } from './runtime.ts';

/**
 * The graphs that keep a run on the GPU: one sampler step (classifier-free guidance with its rescale, the
 * step's linear update, the next U-Net batch, both latents in the VAE's space) and a copy onto the device.
 * The coefficients come from the shared samplers (`SamplerRun.plan`); this applies them where the tensors
 * are, as `applyStep` and `classifierFreeGuidance` do in JS. Their names and the coefficients' layout live
 * here; the builders (`sampler-graph-onnx.ts`) load only where a GPU uses them.
 */
export const SAMPLER_STEP = {
  inputs: { out: 'model_output', sample: 'sample', x0Prev: 'x0_prev', noise: 'noise', coefficients: 'coefficients' },
  outputs: {
    prev: 'prev_sample',
    x0: 'pred_original_sample',
    nextSample: 'next_sample',
    prevLatents: 'prev_latents',
    x0Latents: 'x0_latents',
  },
} as const;

export const DEVICE_COPY = { inputs: { value: 'value' }, outputs: { copy: 'copy' } } as const;

/** The `coefficients` input, in the order the graph reads it. */
export const COEFFICIENTS = [
  'x0.x',
  'x0.m',
  'prev.x',
  'prev.m',
  'prev.x0Prev',
  'prev.noise',
  'guidance',
  'rescale',
  'vaeScale',
  'vaeShift',
] as const;

/** Where the graph's latent outputs land: the VAE's input space (÷ scale + shift), or as is (1, 0). */
export type StepLatentSpace = Pick<PipelineManifest['latent'], 'scaleFactor' | 'shiftFactor'>;

export function stepCoefficients(
  { coefficients: { x0, prev } }: StepPlan,
  guidance: { scale: number; rescale: number },
  { scaleFactor, shiftFactor }: StepLatentSpace,
): Float32Array {
  return Float32Array.from([
    x0.x,
    x0.m,
    prev.x,
    prev.m,
    prev.x0Prev,
    prev.noise,
    guidance.scale,
    guidance.rescale,
    1 / scaleFactor,
    shiftFactor,
  ]);
}
