import { createRng } from '../models/diffusion/rng.ts';
import type { ParamInit } from '../models/nn/ops.ts';
import { weightSize } from '../models/nn/weights.ts';

/** FNV-1a: a stable per-name seed, so a parameter's initial value does not depend on creation order. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A parameter's initial values from its name within its network and the run's seed: the same on every back end. */
export function initialValues(name: string, shape: number[], init: ParamInit, seed: number): Float32Array {
  const n = weightSize(shape);
  switch (init.kind) {
    case 'zeros':
      return new Float32Array(n);
    case 'ones':
      return new Float32Array(n).fill(1);
    case 'fill':
      return new Float32Array(n).fill(init.value);
    case 'normal':
    case 'fan-in': {
      const std = init.kind === 'normal' ? init.std : 1 / Math.sqrt(3 * init.fanIn);
      const values = createRng((hashName(name) ^ seed) >>> 0).fill(n);
      for (let i = 0; i < n; i++) values[i] *= std;
      return values;
    }
  }
}
