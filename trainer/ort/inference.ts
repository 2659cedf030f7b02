import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';

/**
 * An onnxruntime-node session on an in-memory graph: how the trainer runs networks it is training (sample
 * grids, statistics) through the same exported graphs the bundle will hold.
 */
export function inferenceSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: availableParallelism(), graphOptimizationLevel: 'all' });
}

/** Token ids as the exported text encoder takes them. */
export function idsTensor(ids: ArrayLike<number>, batch: number, length: number): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(ids), (x) => BigInt(x)), [batch, length]);
}
