import { createRng, type GaussianRng } from '../../models/diffusion/rng.ts';
import { createSampler, type SamplerName } from '../../models/diffusion/samplers/index.ts';
import { alphaBarAt, type NoiseSchedule } from '../../models/diffusion/schedule.ts';
import { trainingTarget, type PredictionType } from '../../models/diffusion/prediction.ts';
/** A 1-D Gaussian mixture: a data distribution whose optimal denoiser is known in closed form. */
export interface Mixture {
  weights: number[];
  means: number[];
  stds: number[];
}

export const TEST_MIXTURE: Mixture = { weights: [0.3, 0.7], means: [-2, 1.5], stds: [0.5, 0.3] };

export function sampleMixture(m: Mixture, n: number, rng: GaussianRng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // The uniform draw for the component reuses the Gaussian stream through its CDF sign, keeping one seeded source.
    const u = normalCdf(rng.next());
    let k = 0;
    let acc = m.weights[0];
    while (u > acc && k < m.weights.length - 1) acc += m.weights[++k];
    out[i] = m.means[k] + m.stds[k] * rng.next();
  }
  return out;
}

export function mixtureMoments(m: Mixture): { mean: number; variance: number } {
  let mean = 0;
  let second = 0;
  m.weights.forEach((w, k) => {
    mean += w * m.means[k];
    second += w * (m.stds[k] ** 2 + m.means[k] ** 2);
  });
  return { mean, variance: second - mean * mean };
}

/**
 * E[x₀ | x_t] for x_t = a x₀ + σ ε: the posterior over components times each component's linear-Gaussian
 * posterior mean. Returned as the optimal ε-prediction (x_t − a E[x₀|x_t]) / σ.
 */
export function exactEps(m: Mixture, xt: ArrayLike<number>, alphaBar: number): Float64Array {
  const a = Math.sqrt(alphaBar);
  const s2 = 1 - alphaBar;
  const out = new Float64Array(xt.length);
  const K = m.weights.length;
  const logW = new Float64Array(K);
  for (let i = 0; i < xt.length; i++) {
    const x = xt[i];
    let maxLog = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = a * a * m.stds[k] ** 2 + s2;
      logW[k] = Math.log(m.weights[k]) - 0.5 * Math.log(v) - (x - a * m.means[k]) ** 2 / (2 * v);
      maxLog = Math.max(maxLog, logW[k]);
    }
    let norm = 0;
    let x0 = 0;
    for (let k = 0; k < K; k++) {
      const w = Math.exp(logW[k] - maxLog);
      const v = a * a * m.stds[k] ** 2 + s2;
      norm += w;
      x0 += w * (m.means[k] + ((a * m.stds[k] ** 2) / v) * (x - a * m.means[k]));
    }
    x0 /= norm;
    out[i] = (x - a * x0) / Math.sqrt(s2);
  }
  return out;
}

export function mixtureCdf(m: Mixture, x: number): number {
  let c = 0;
  m.weights.forEach((w, k) => (c += w * normalCdf((x - m.means[k]) / m.stds[k])));
  return c;
}

/** Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), ample for distances compared at 1e-3. */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Wasserstein-1 distance ∫|F_n − F| dx between a sample's empirical CDF and the mixture's exact CDF. */
export function wasserstein1ToMixture(m: Mixture, samples: ArrayLike<number>): number {
  const sorted = Float64Array.from(samples).sort();
  const lo = Math.min(sorted[0], ...m.means.map((mu, k) => mu - 8 * m.stds[k]));
  const hi = Math.max(sorted[sorted.length - 1], ...m.means.map((mu, k) => mu + 8 * m.stds[k]));
  const cells = 40_000;
  const dx = (hi - lo) / cells;
  let j = 0;
  let w = 0;
  for (let c = 0; c < cells; c++) {
    const x = lo + (c + 0.5) * dx;
    while (j < sorted.length && sorted[j] <= x) j++;
    w += Math.abs(j / sorted.length - mixtureCdf(m, x)) * dx;
  }
  return w;
}

export function moments(x: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return { mean, variance: v / (x.length - 1) };
}

/** Draw n samples with a sampler driven by the exact denoiser of the mixture, reporting as `predictionType`. */
export function sampleWithExactDenoiser(
  sampler: SamplerName,
  schedule: NoiseSchedule,
  steps: number,
  n: number,
  seed: number,
  predictionType: PredictionType = 'epsilon',
  m: Mixture = TEST_MIXTURE,
): Float32Array {
  const rng = createRng(seed);
  const run = createSampler(sampler, schedule, { steps, predictionType, rng });
  let x = rng.fill(n);
  run.timesteps.forEach((t, i) => {
    const abar = Math.max(alphaBarAt(schedule, t), 2 ** -24);
    const eps = exactEps(m, x, abar);
    const a = Math.sqrt(abar);
    const s = Math.sqrt(1 - abar);
    const out = eps.map((e, j) => trainingTarget(predictionType, (x[j] - s * e) / a, e, abar));
    x = run.step(i, out, x).prev;
  });
  return x;
}
