import type { SamplerContext, SamplerRun } from './types.ts';
import { linearRun } from './common.ts';

/**
 * DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver of the probability-flow ODE in
 * data-prediction form, in log-SNR time λ = log(α/σ). The final step (to σ = 0) is first order, which
 * keeps few-step sampling stable ("lower_order_final" in diffusers).
 */
export function dpmpp2m(ctx: SamplerContext): SamplerRun {
  let prevH = 0;
  let prevIndex = -2;
  const lambda = (abar: number) => 0.5 * Math.log(abar / (1 - abar));
  return linearRun(ctx, 'dpmpp-2m', (i, { abar, abarPrev, x0, last }) => {
    const follows = prevIndex === i - 1;
    prevIndex = i;
    // σ_next = 0: the first-order update reduces to the denoised sample itself.
    if (last) return { prev: { x: x0.x, m: x0.m, x0Prev: 0, noise: 0 }, drawsNoise: false };
    const h = lambda(abarPrev) - lambda(abar);
    const ratio = Math.sqrt((1 - abarPrev) / (1 - abar)); // σ_next / σ
    const coef = -Math.sqrt(abarPrev) * Math.expm1(-h); // -α_next (e^{-h} - 1)
    // D = (1 + 1/2r)·x̂₀ − (1/2r)·x̂₀′; a zero step (both ends clamped at ᾱ's floor) carries no curvature
    // information: first order then, as on the first step.
    const secondOrder = follows && prevH > 0 && h > 0;
    const half = secondOrder ? 1 / (2 * (prevH / h)) : 0;
    prevH = h;
    return {
      prev: { x: ratio + coef * (1 + half) * x0.x, m: coef * (1 + half) * x0.m, x0Prev: -coef * half, noise: 0 },
      drawsNoise: false,
    };
  });
}
