import type { PredictionType } from '../prediction.ts';
import type { GaussianRng } from '../rng.ts';
import type { NoiseSchedule } from '../schedule.ts';

export const SAMPLER_NAMES = ['ddpm', 'ddim', 'dpmpp-2m', 'euler-a'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

export const TIMESTEP_SPACINGS = ['trailing', 'leading', 'linspace'] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

export interface SamplerOptions {
  /** Number of inference steps N (= model evaluations, one per step). */
  steps: number;
  predictionType: PredictionType;
  /** Source of fresh noise for stochastic samplers (DDPM, Euler ancestral, DDIM with eta > 0). */
  rng?: GaussianRng;
  /** DDIM stochasticity: 0 is deterministic DDIM, 1 matches DDPM's posterior variance. */
  eta?: number;
  spacing?: TimestepSpacing;
}

/**
 * One sampling run. The sample always lives in the model's own space x_t = sqrt(ᾱ_t) x₀ + sqrt(1-ᾱ_t) ε,
 * so the network input needs no per-sampler scaling and samplers are interchangeable in a pipeline.
 */
export interface SamplerRun {
  readonly name: SamplerName;
  /** Training timesteps to evaluate the model at, in descending order; length N. */
  readonly timesteps: readonly number[];
  /**
   * Given the model output at timesteps[i] for `sample`: the sample at timesteps[i+1] (`prev`; the clean
   * sample after the last step) and the predicted original x̂₀ it was computed from, as diffusers' schedulers
   * return `prev_sample` and `pred_original_sample`.
   */
  step(i: number, modelOutput: ArrayLike<number>, sample: ArrayLike<number>): SamplerStep;
}

export interface SamplerStep {
  prev: Float32Array;
  x0: Float32Array;
}

export interface SamplerContext {
  schedule: NoiseSchedule;
  options: Required<Omit<SamplerOptions, 'rng'>> & { rng?: GaussianRng };
  timesteps: number[];
}
