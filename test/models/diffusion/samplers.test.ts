import { describe, expect, it } from 'vitest';
import {
  createRng,
  createSampler,
  createSchedule,
  img2imgStart,
  inferenceTimesteps,
  SAMPLER_NAMES,
  TIMESTEP_SPACINGS,
} from '../../../models/diffusion/index.ts';
import { InvalidArgumentError } from '../../../models/errors.ts';
import fc from 'fast-check';
import {
  mixtureMoments,
  moments,
  sampleMixture,
  sampleWithExactDenoiser,
  TEST_MIXTURE,
  wasserstein1ToMixture,
} from '../../support/gaussian-mixture.ts';

// 20k 1-D samples of a two-component mixture, denoised by its exact (closed-form) ε-predictor.
// Measured noise floor: exact draws of the same size sit at W1 ≈ 0.01–0.02 from the true CDF.
const N = 20_000;
const schedule = createSchedule({ kind: 'cosine', trainSteps: 1000 });
const truth = mixtureMoments(TEST_MIXTURE);
const W1_MATCH = 0.035;

describe('samplers with the exact denoiser reproduce the data distribution', () => {
  const converged = { ddpm: 1000, 'euler-a': 1000, ddim: 100, 'dpmpp-2m': 20 } as const;
  for (const name of SAMPLER_NAMES) {
    it(`${name} at ${converged[name]} steps matches moments and W1`, () => {
      const x = sampleWithExactDenoiser(name, schedule, converged[name], N, 11);
      const { mean, variance } = moments(x);
      expect(Math.abs(mean - truth.mean)).toBeLessThan(0.05);
      expect(Math.abs(variance / truth.variance - 1)).toBeLessThan(0.05);
      expect(wasserstein1ToMixture(TEST_MIXTURE, x)).toBeLessThan(W1_MATCH);
    });
  }

  it('the distance measure itself separates right from wrong distributions', () => {
    expect(wasserstein1ToMixture(TEST_MIXTURE, sampleMixture(TEST_MIXTURE, N, createRng(2)))).toBeLessThan(W1_MATCH);
    const shifted = sampleMixture(TEST_MIXTURE, N, createRng(2)).map((v) => v + 0.2);
    expect(wasserstein1ToMixture(TEST_MIXTURE, shifted)).toBeGreaterThan(0.15);
  });

  it('DPM-Solver++(2M) at 15–20 steps is at least as accurate as DDIM and close to DDPM at 1000', () => {
    const ddpm1000 = wasserstein1ToMixture(TEST_MIXTURE, sampleWithExactDenoiser('ddpm', schedule, 1000, N, 5));
    // Measured over seeds 5–7: |DPM++ − DDPM1000| is 0.018–0.024 at 15 steps and ≤ 0.01 at 20 steps.
    for (const [steps, closeTo] of [
      [15, 0.03],
      [20, 0.015],
    ]) {
      const dpm = wasserstein1ToMixture(TEST_MIXTURE, sampleWithExactDenoiser('dpmpp-2m', schedule, steps, N, 5));
      const ddim = wasserstein1ToMixture(TEST_MIXTURE, sampleWithExactDenoiser('ddim', schedule, steps, N, 5));
      expect(dpm).toBeLessThanOrEqual(ddim);
      expect(Math.abs(dpm - ddpm1000)).toBeLessThan(closeTo);
    }
  });

  it('more steps help: each deterministic sampler improves from 5 to 50 steps', () => {
    for (const name of ['ddim', 'dpmpp-2m'] as const) {
      const few = wasserstein1ToMixture(TEST_MIXTURE, sampleWithExactDenoiser(name, schedule, 5, 4000, 3));
      const many = wasserstein1ToMixture(TEST_MIXTURE, sampleWithExactDenoiser(name, schedule, 50, 4000, 3));
      expect(many).toBeLessThan(few / 3);
    }
  });

  it('the sampler result does not depend on the prediction type the model reports in', () => {
    for (const name of ['dpmpp-2m', 'ddim', 'euler-a'] as const) {
      const eps = sampleWithExactDenoiser(name, schedule, 10, 2000, 9, 'epsilon');
      for (const type of ['v_prediction', 'sample'] as const) {
        const other = sampleWithExactDenoiser(name, schedule, 10, 2000, 9, type);
        eps.forEach((v, i) => expect(Math.abs(other[i] - v)).toBeLessThan(1e-3));
      }
    }
  });

  it('Euler ancestral is DDPM’s posterior in σ-space: same seed, same samples', () => {
    const a = sampleWithExactDenoiser('ddpm', schedule, 25, 3000, 4);
    const b = sampleWithExactDenoiser('euler-a', schedule, 25, 3000, 4);
    a.forEach((v, i) => expect(Math.abs(b[i] - v)).toBeLessThan(1e-4));
  });

  it('zero-terminal-SNR schedules sample without NaN at every step count', () => {
    const zero = createSchedule({ kind: 'linear', trainSteps: 1000, zeroTerminalSnr: true });
    for (const name of SAMPLER_NAMES) {
      for (const steps of [1, 7, 1000]) {
        const x = sampleWithExactDenoiser(name, zero, steps, 200, 1, 'v_prediction');
        expect(x.every(Number.isFinite)).toBe(true);
      }
    }
  });
});

describe('timesteps and img2img', () => {
  it('inference timesteps are unique, descending and in range for every spacing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom(...TIMESTEP_SPACINGS),
        (T, n, spacing) => {
          fc.pre(n <= T);
          const ts = inferenceTimesteps(T, n, spacing);
          expect(ts.length).toBe(n);
          ts.forEach((t, i) => {
            expect(t >= 0 && t < T).toBe(true);
            if (i > 0) expect(t).toBeLessThan(ts[i - 1]);
          });
          if (spacing !== 'leading') expect(ts[0]).toBe(T - 1);
        },
      ),
    );
  });

  it('strength maps to a start step: 1 runs every step, 0 none', () => {
    const ts = inferenceTimesteps(1000, 20, 'trailing');
    expect(img2imgStart(ts, 1)).toEqual({ startIndex: 0, timestep: 999 });
    expect(img2imgStart(ts, 0).startIndex).toBe(20);
    expect(img2imgStart(ts, 0.5).startIndex).toBe(10);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
        fc.pre(a <= b);
        expect(img2imgStart(ts, a).startIndex).toBeGreaterThanOrEqual(img2imgStart(ts, b).startIndex);
      }),
    );
  });

  it('bad input throws typed errors with clear messages', () => {
    const rng = createRng(1);
    expect(() => createSampler('plms', schedule, { steps: 10, predictionType: 'epsilon' })).toThrow(InvalidArgumentError);
    expect(() => createSampler('plms', schedule, { steps: 10, predictionType: 'epsilon' })).toThrow(
      /sampler: must be one of ddpm, ddim, dpmpp-2m, euler-a, got 'plms'/,
    );
    expect(() => createSampler('ddim', schedule, { steps: -3, predictionType: 'epsilon' })).toThrow(
      /steps: must be an integer in \[1, 1000\], got -3/,
    );
    expect(() => createSampler('ddim', schedule, { steps: 1001, predictionType: 'epsilon' })).toThrow(InvalidArgumentError);
    expect(() => createSampler('ddpm', schedule, { steps: 10, predictionType: 'epsilon' })).toThrow(/rng: sampler 'ddpm' is stochastic/);
    expect(() => createSampler('ddim', schedule, { steps: 10, predictionType: 'epsilon', eta: 2, rng })).toThrow(/eta/);
    expect(() => img2imgStart([999], 1.5)).toThrow(/strength: must be a number in \[0, 1\], got 1.5/);
    expect(() => img2imgStart([999], -0.1)).toThrow(InvalidArgumentError);
    const run = createSampler('ddim', schedule, { steps: 2, predictionType: 'epsilon' });
    expect(() => run.step(2, [0], [0])).toThrow(/i: step index/);
    expect(() => run.step(0, [0, 1], [0])).toThrow(/modelOutput: length 2 does not match/);
  });
});
