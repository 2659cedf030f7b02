import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BETA_SCHEDULES, createSchedule, snr } from '../../../models/diffusion/index.ts';
import { InvalidArgumentError } from '../../../models/errors.ts';

describe('noise schedules', () => {
  it('ᾱ decreases strictly from below 1 and stays positive, for any kind and length', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BETA_SCHEDULES), fc.integer({ min: 2, max: 2000 }), (kind, trainSteps) => {
        const { alphasCumprod: a, betas } = createSchedule({ kind, trainSteps });
        expect(a.length).toBe(trainSteps);
        expect(a[0]).toBeLessThan(1);
        for (let i = 1; i < a.length; i++) expect(a[i]).toBeLessThan(a[i - 1]);
        expect(a[a.length - 1]).toBeGreaterThan(0);
        betas.forEach((b) => expect(b > 0 && b < 1).toBe(true));
      }),
      { numRuns: 60 },
    );
  });

  it('zero-terminal-SNR rescaling ends at SNR 0 and keeps the first step', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BETA_SCHEDULES), fc.integer({ min: 10, max: 2000 }), (kind, trainSteps) => {
        const plain = createSchedule({ kind, trainSteps });
        const zero = createSchedule({ kind, trainSteps, zeroTerminalSnr: true });
        const s = snr(zero);
        expect(zero.alphasCumprod[trainSteps - 1]).toBeLessThan(1e-12);
        expect(s[trainSteps - 1]).toBeLessThan(1e-12);
        expect(zero.alphasCumprod[0]).toBeCloseTo(plain.alphasCumprod[0], 12);
        for (let i = 1; i < trainSteps; i++) expect(zero.alphasCumprod[i]).toBeLessThan(zero.alphasCumprod[i - 1]);
      }),
      { numRuns: 40 },
    );
  });

  it('scaled-linear reproduces the Stable Diffusion endpoints', () => {
    const { betas } = createSchedule({ kind: 'scaled-linear', trainSteps: 1000 });
    expect(betas[0]).toBeCloseTo(0.00085, 10);
    expect(betas[999]).toBeCloseTo(0.012, 10);
  });

  it('bad configs throw typed errors', () => {
    expect(() => createSchedule({ kind: 'quadratic' as 'linear', trainSteps: 10 })).toThrow(InvalidArgumentError);
    expect(() => createSchedule({ kind: 'linear', trainSteps: 1 })).toThrow(/schedule.trainSteps: must be an integer >= 2/);
    expect(() => createSchedule({ kind: 'linear', trainSteps: 10, betaStart: 0.1, betaEnd: 0.01 })).toThrow(/betaStart <= betaEnd/);
  });
});
