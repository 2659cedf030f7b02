import type { WeightMap } from '../models/nn/weights.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';

export function saveWeights(path: string, weights: WeightMap, meta: Record<string, unknown> = {}): void {
  saveCheckpoint(path, { step: 0, meta, tensors: weights });
}

export function loadWeights(path: string): { weights: WeightMap; meta: Record<string, unknown> } {
  const ckpt = loadCheckpoint(path);
  if (!ckpt) throw new Error(`missing ${path}: run the stage that produces it first`);
  return { weights: ckpt.tensors, meta: ckpt.meta };
}
