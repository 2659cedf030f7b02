import type { SamplerContext, SamplerRun } from './types.ts';
import { beginStep, requireRng } from './common.ts';

/**
 * Euler ancestral (Karras/k-diffusion) in the variance-exploding view x/α with σ = sqrt((1-ᾱ)/ᾱ);
 * the sample is converted to and from that view inside the step so callers keep the model's x_t space.
 */
export function eulerAncestral(ctx: SamplerContext): SamplerRun {
  const rng = requireRng(ctx, 'euler-a');
  return {
    name: 'euler-a',
    timesteps: ctx.timesteps,
    step(i, modelOutput, sample) {
      const { abar, abarPrev, x0, last } = beginStep(ctx, i, modelOutput, sample);
      const sigma = Math.sqrt((1 - abar) / abar);
      const sigmaNext = last ? 0 : Math.sqrt((1 - abarPrev) / abarPrev);
      const sigmaUp = Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2);
      const sigmaDown = Math.sqrt(sigmaNext ** 2 - sigmaUp ** 2);
      const a = Math.sqrt(abar);
      const aNext = last ? 1 : Math.sqrt(abarPrev);
      const out = new Float32Array(sample.length);
      for (let j = 0; j < out.length; j++) {
        const x = sample[j] / a;
        const d = (x - x0[j]) / sigma;
        const xNext = x + d * (sigmaDown - sigma) + (last ? 0 : sigmaUp * rng.next());
        out[j] = xNext * aNext;
      }
      return { prev: out, x0: Float32Array.from(x0) };
    },
  };
}
