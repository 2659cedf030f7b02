import type { SamplerContext, SamplerRun } from './types.ts';
import { linearRun, requireRng } from './common.ts';

/**
 * Euler ancestral (Karras/k-diffusion) in the variance-exploding view x/α with σ = sqrt((1-ᾱ)/ᾱ);
 * the sample is converted to and from that view inside the step so callers keep the model's x_t space.
 */
export function eulerAncestral(ctx: SamplerContext): SamplerRun {
  return linearRun(
    ctx,
    'euler-a',
    (_i, { abar, abarPrev, x0, last }) => {
      const sigma = Math.sqrt((1 - abar) / abar);
      const sigmaNext = last ? 0 : Math.sqrt((1 - abarPrev) / abarPrev);
      const sigmaUp = Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2);
      const sigmaDown = Math.sqrt(sigmaNext ** 2 - sigmaUp ** 2);
      const a = Math.sqrt(abar);
      const aNext = last ? 1 : Math.sqrt(abarPrev);
      // With v = x/α and d = (v − x̂₀)/σ: v′ = v + d·(σ_down − σ) + σ_up·n = (1 + k)·v − k·x̂₀ + σ_up·n, k = σ_down/σ − 1.
      const k = (sigmaDown - sigma) / sigma;
      return {
        prev: { x: aNext * ((1 + k) / a - k * x0.x), m: -aNext * k * x0.m, x0Prev: 0, noise: last ? 0 : aNext * sigmaUp },
        drawsNoise: !last,
      };
    },
    requireRng(ctx, 'euler-a'),
  );
}
