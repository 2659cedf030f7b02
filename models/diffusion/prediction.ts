import { requireOneOf } from '../errors.ts';

export const PREDICTION_TYPES = ['epsilon', 'sample', 'v_prediction'] as const;
/** What the network predicts: the noise ε, the clean sample x₀, or v = α ε − σ x₀ (diffusers names). */
export type PredictionType = (typeof PREDICTION_TYPES)[number];

export function parsePredictionType(value: string): PredictionType {
  return requireOneOf('predictionType', value, PREDICTION_TYPES);
}

/**
 * Per-element conversions, with α = sqrt(ᾱ_t), σ = sqrt(1-ᾱ_t) and x_t = α x₀ + σ ε.
 * Every conversion goes through the (x₀, ε) pair, which x_t and any one prediction determine exactly.
 */
export function predictedX0(type: PredictionType, out: number, xt: number, alphaBar: number): number {
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  switch (type) {
    case 'epsilon':
      return (xt - s * out) / a;
    case 'sample':
      return out;
    case 'v_prediction':
      return a * xt - s * out;
  }
}

export function predictedEps(type: PredictionType, out: number, xt: number, alphaBar: number): number {
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  switch (type) {
    case 'epsilon':
      return out;
    case 'sample':
      return (xt - a * out) / s;
    case 'v_prediction':
      return s * xt + a * out;
  }
}

/** The target a network of the given type is trained to output, from the true x₀ and ε. */
export function trainingTarget(type: PredictionType, x0: number, eps: number, alphaBar: number): number {
  switch (type) {
    case 'epsilon':
      return eps;
    case 'sample':
      return x0;
    case 'v_prediction':
      return Math.sqrt(alphaBar) * eps - Math.sqrt(1 - alphaBar) * x0;
  }
}

/** Convert a whole prediction array from one type to another at the same x_t. */
export function convertPrediction(
  from: PredictionType,
  to: PredictionType,
  out: ArrayLike<number>,
  xt: ArrayLike<number>,
  alphaBar: number,
): Float64Array {
  const res = new Float64Array(out.length);
  for (let i = 0; i < res.length; i++) {
    const x0 = predictedX0(from, out[i], xt[i], alphaBar);
    const eps = predictedEps(from, out[i], xt[i], alphaBar);
    res[i] = trainingTarget(to, x0, eps, alphaBar);
  }
  return res;
}

/**
 * x̂₀ and ε are linear in (x_t, model output) for every type: their coefficients, read off the conversions
 * above at unit inputs, so the formulas live in one place.
 */
export function linearPrediction(type: PredictionType, alphaBar: number): Record<'x0' | 'eps', { x: number; m: number }> {
  return {
    x0: { x: predictedX0(type, 0, 1, alphaBar), m: predictedX0(type, 1, 0, alphaBar) },
    eps: { x: predictedEps(type, 0, 1, alphaBar), m: predictedEps(type, 1, 0, alphaBar) },
  };
}
