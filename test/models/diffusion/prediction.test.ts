import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertPrediction, PREDICTION_TYPES, parsePredictionType, trainingTarget } from '../../../models/diffusion/index.ts';
import { InvalidArgumentError } from '../../../models/errors.ts';

const finite = fc.double({ min: -10, max: 10, noNaN: true });
const alphaBar = fc.double({ min: 1e-4, max: 1 - 1e-4, noNaN: true });

describe('prediction types', () => {
  it('every conversion recovers the exact target of the other type, and round-trips to 1e-6', () => {
    fc.assert(
      fc.property(
        finite,
        finite,
        alphaBar,
        fc.constantFrom(...PREDICTION_TYPES),
        fc.constantFrom(...PREDICTION_TYPES),
        (x0, eps, abar, from, to) => {
          const xt = Math.sqrt(abar) * x0 + Math.sqrt(1 - abar) * eps;
          const out = trainingTarget(from, x0, eps, abar);
          const converted = convertPrediction(from, to, [out], [xt], abar)[0];
          // Converting to x₀ from ε divides by sqrt(ᾱ): compare with a tolerance scaled by that amplification.
          const amp = 1 / Math.sqrt(abar) + 1 / Math.sqrt(1 - abar);
          expect(Math.abs(converted - trainingTarget(to, x0, eps, abar))).toBeLessThan(1e-9 * amp * 20);
          const back = convertPrediction(to, from, [converted], [xt], abar)[0];
          expect(Math.abs(back - out)).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('unknown prediction type is a typed error', () => {
    expect(() => parsePredictionType('x0')).toThrow(InvalidArgumentError);
    expect(() => parsePredictionType('x0')).toThrow(/predictionType: must be one of epsilon, sample, v_prediction/);
  });
});
