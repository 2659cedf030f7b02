import type { WeightMap } from '../models/nn/weights.ts';
import type { StoredTensor } from './checkpoint.ts';
import type { Objective } from './objective.ts';

export interface EngineSettings {
  seed: number;
  weightDecay: number;
  clipNorm: number;
  /** EMA decay of the weights that get exported; undefined = no EMA. */
  emaDecay?: number;
}

/** AdamW's constants, shared by every engine. */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/**
 * The EMA decay used after `t` optimizer steps: warmed up as (1 + t) / (10 + t) towards `decay`, so the
 * average follows the weights early on instead of remembering the random start for thousands of steps.
 */
export function emaDecayAt(decay: number, t: number): number {
  return Math.min(decay, (1 + t) / (10 + t));
}

/**
 * Trains one objective: owns the parameters, the AdamW moments and the EMA. Both engines (tfjs and the
 * ONNX training graph on onnxruntime-node) start from the same seeded values, read and write the same
 * checkpoint tensors (`param:`, `adam_m:`, `adam_v:`, `ema:` + network/name), so a run can resume on either.
 */
export interface TrainingEngine {
  readonly name: string;
  /** Whether it keeps an EMA of the weights. */
  readonly hasEma: boolean;
  /** One AdamW step on the objective's batch `step` (Adam's counter t = step + 1). Returns the loss; a
   * non-finite loss leaves the state as it was where the engine can (onnxruntime), and the loop stops. */
  step(step: number, lr: number): Promise<number>;
  checkpointTensors(): Map<string, StoredTensor>;
  restore(tensors: Map<string, StoredTensor>, source: string): void;
  /** One network's current (`param`) or averaged (`ema`) weights. */
  weights(network: string, which: 'param' | 'ema'): WeightMap;
  dispose(): void;
}

export type EngineFactory = (objective: Objective, settings: EngineSettings) => Promise<TrainingEngine>;
