import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../../models/diffusion/rng.ts';
import { InvalidArgumentError } from '../../models/errors.ts';
import type { ParamInit } from '../../models/nn/ops.ts';
import { weightSize, type WeightMap } from '../../models/nn/weights.ts';

/** FNV-1a: a stable per-name seed, so a parameter's initial value does not depend on creation order. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function initialValues(name: string, shape: number[], init: ParamInit, seed: number): Float32Array {
  const n = weightSize(shape);
  switch (init.kind) {
    case 'zeros':
      return new Float32Array(n);
    case 'ones':
      return new Float32Array(n).fill(1);
    case 'normal':
    case 'fan-in': {
      const std = init.kind === 'normal' ? init.std : 1 / Math.sqrt(3 * init.fanIn);
      const values = createRng((hashName(name) ^ seed) >>> 0).fill(n);
      for (let i = 0; i < n; i++) values[i] *= std;
      return values;
    }
  }
}

/** The trainable variables of one network, created on first use with seeded, order-independent values. */
export class ParamStore {
  readonly variables = new Map<string, tf.Variable>();

  constructor(
    readonly prefix: string,
    readonly seed: number,
  ) {}

  get(name: string, shape: number[], init: ParamInit): tf.Variable {
    const existing = this.variables.get(name);
    if (existing) {
      if (existing.shape.join() !== shape.join()) {
        throw new InvalidArgumentError(name, `parameter shape [${shape}] conflicts with existing [${existing.shape}]`);
      }
      return existing;
    }
    const v = tf.variable(tf.tensor(initialValues(name, shape, init, this.seed), shape), true, `${this.prefix}/${name}`);
    this.variables.set(name, v);
    return v;
  }

  /** Replace values from a weight map (resume, tests); every name must exist with the same shape. */
  load(weights: WeightMap): void {
    for (const [name, w] of weights) {
      const v = this.variables.get(name);
      if (!v) throw new InvalidArgumentError(name, 'no such parameter in this network');
      if (v.shape.join() !== w.shape.join()) throw new InvalidArgumentError(name, `shape [${w.shape}] does not match [${v.shape}]`);
      v.assign(tf.tensor(w.data, w.shape));
    }
  }

  export(): WeightMap {
    const out: WeightMap = new Map();
    for (const [name, v] of this.variables) out.set(name, { shape: [...v.shape], data: v.dataSync() as Float32Array });
    return out;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}
