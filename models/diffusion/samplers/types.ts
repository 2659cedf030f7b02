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
 * Every step of every sampler here is linear in what it is given. With m the (guided) model output, x the
 * sample, x̂₀′ the previous step's x̂₀ and n fresh Gaussian noise:
 *   x̂₀ = x0.x·x + x0.m·m,   prev = prev.x·x + prev.m·m + prev.x0Prev·x̂₀′ + prev.noise·n.
 * The coefficients depend only on the schedule and the step, so they are computed once, in float64, and
 * applied wherever the tensors live: in JS (`applyStep`) or on the GPU (the pipeline's sampler-step graph).
 */
export interface StepCoefficients {
  x0: { x: number; m: number };
  prev: { x: number; m: number; x0Prev: number; noise: number };
}

/** One step's coefficients and, for a stochastic step, its noise (drawn from the run's rng in order). */
export interface StepPlan {
  coefficients: StepCoefficients;
  noise?: Float32Array;
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
   * Step i's plan for a sample of `size` values. Multistep samplers remember which step came last, so a run is
   * driven either by `plan` (the caller applies it and keeps x̂₀′) or by `step`, once per step, in order.
   */
  plan(i: number, size: number): StepPlan;
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

/** What a sampler defines: step i's coefficients, given ᾱ at both ends and x̂₀ = x0.x·x + x0.m·m. */
export type CoefficientRule = (
  i: number,
  step: { abar: number; abarPrev: number; last: boolean; x0: StepCoefficients['x0']; eps: StepCoefficients['x0'] },
) => { prev: StepCoefficients['prev']; drawsNoise: boolean };

export interface SamplerContext {
  schedule: NoiseSchedule;
  options: Required<Omit<SamplerOptions, 'rng'>> & { rng?: GaussianRng };
  timesteps: number[];
}
