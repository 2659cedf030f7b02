import { requireInteger } from '../../errors.ts';
import type { TimestepSpacing } from './types.ts';

/**
 * Which N of the T training timesteps to visit, descending. `trailing` always starts at T-1 (the pure-noise
 * end), which Lin et al. show matters; `leading` is the original DDIM spacing; `linspace` spreads evenly.
 */
export function inferenceTimesteps(trainSteps: number, steps: number, spacing: TimestepSpacing): number[] {
  requireInteger('steps', steps, 1, trainSteps);
  const out: number[] = [];
  for (let k = 0; k < steps; k++) {
    let t: number;
    if (spacing === 'trailing') t = Math.round(trainSteps - (k * trainSteps) / steps) - 1;
    else if (spacing === 'leading') t = Math.floor(((steps - 1 - k) * trainSteps) / steps);
    else t = steps === 1 ? trainSteps - 1 : Math.round(((trainSteps - 1) * (steps - 1 - k)) / (steps - 1));
    out.push(t);
  }
  return out;
}
