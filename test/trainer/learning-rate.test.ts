import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { learningRate } from '../../trainer/loop.ts';

const schedule = fc.record({
  lr: fc.double({ min: 1e-5, max: 1e-2, noNaN: true }),
  warmupSteps: fc.integer({ min: 1, max: 50 }),
  length: fc.integer({ min: 60, max: 400 }),
  cycles: fc.integer({ min: 2, max: 4 }),
});

describe('learning-rate schedule', () => {
  it('a run of one cosine cycle is, step for step, the first cycle of a run with more (so it can be resumed under one)', () => {
    fc.assert(
      fc.property(schedule, ({ lr, warmupSteps, length, cycles }) => {
        const one = { lr, warmupSteps, lrSchedule: 'cosine' as const, steps: length };
        const more = { ...one, steps: length * cycles, lrCycles: cycles };
        for (let step = 0; step < length; step++) expect(learningRate(more, step)).toBe(learningRate(one, step));
      }),
    );
  });

  it('each later cycle restarts at lr and decays to near 0 at its last step, never rising within a cycle', () => {
    fc.assert(
      fc.property(schedule, ({ lr, warmupSteps, length, cycles }) => {
        const o = { lr, warmupSteps, lrSchedule: 'cosine' as const, steps: length * cycles, lrCycles: cycles };
        for (let c = 1; c < cycles; c++) {
          const start = c * length;
          expect(learningRate(o, start)).toBeCloseTo(lr, 12);
          expect(learningRate(o, start + length - 1)).toBeLessThan(lr * 1e-3);
          for (let step = start + 1; step < start + length; step++)
            expect(learningRate(o, step)).toBeLessThanOrEqual(learningRate(o, step - 1));
        }
      }),
    );
  });
});
