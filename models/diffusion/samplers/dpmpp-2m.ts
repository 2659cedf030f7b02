import type { SamplerContext, SamplerRun } from './types.ts';
import { beginStep } from './common.ts';

/**
 * DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver of the probability-flow ODE in
 * data-prediction form, in log-SNR time λ = log(α/σ). The final step (to σ = 0) is first order, which
 * keeps few-step sampling stable ("lower_order_final" in diffusers).
 */
export function dpmpp2m(ctx: SamplerContext): SamplerRun {
  let prevX0: Float64Array | undefined;
  let prevH = 0;
  let prevIndex = -2;
  const lambda = (abar: number) => 0.5 * Math.log(abar / (1 - abar));
  return {
    name: 'dpmpp-2m',
    timesteps: ctx.timesteps,
    step(i, modelOutput, sample) {
      const { abar, abarPrev, x0, last } = beginStep(ctx, i, modelOutput, sample);
      const out = new Float32Array(sample.length);
      if (last) {
        // σ_next = 0: the first-order update reduces to the denoised sample itself.
        for (let j = 0; j < out.length; j++) out[j] = x0[j];
      } else {
        const h = lambda(abarPrev) - lambda(abar);
        const ratio = Math.sqrt((1 - abarPrev) / (1 - abar)); // σ_next / σ
        const coef = -Math.sqrt(abarPrev) * Math.expm1(-h); // -α_next (e^{-h} - 1)
        // A zero step (both ends clamped at ᾱ's floor) carries no curvature information: fall back to first order.
        const secondOrder = prevX0 !== undefined && prevIndex === i - 1 && prevH > 0 && h > 0;
        const r = secondOrder ? prevH / h : 1;
        for (let j = 0; j < out.length; j++) {
          const d = secondOrder ? (1 + 1 / (2 * r)) * x0[j] - (1 / (2 * r)) * prevX0![j] : x0[j];
          out[j] = ratio * sample[j] + coef * d;
        }
        prevH = h;
      }
      prevX0 = x0;
      prevIndex = i;
      return { prev: out, x0: Float32Array.from(x0) };
    },
  };
}
