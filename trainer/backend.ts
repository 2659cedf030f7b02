import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../models/errors.ts';
import type { EngineFactory } from './engine.ts';
import { createOrtEngine } from './ort/engine.ts';
import { createTfjsEngine } from './tfjs/engine.ts';
import { initTrainingBackend, tryImport, type TrainingBackend } from './tfjs/backend.ts';

export const BACKENDS = ['auto', 'ort', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface Backend extends TrainingBackend {
  engine: EngineFactory;
}

/**
 * Which engine trains: `ort` (the ONNX training graph on onnxruntime-node, every core) unless tfjs-node-gpu
 * is installed (CUDA), or a tfjs back end is asked for by name. tfjs is initialised on wasm alongside `ort`
 * for the stages' in-training previews and statistics, which still run through tfjs.
 */
export async function initBackend(choice: BackendChoice = 'auto', threads = availableParallelism()): Promise<Backend> {
  if (!BACKENDS.includes(choice)) throw new InvalidArgumentError('backend', `must be one of ${BACKENDS.join(', ')}, got '${choice}'`);
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError('threads', `must be a positive integer, got ${threads}`);
  if (choice === 'ort' || (choice === 'auto' && !(await tryImport('@tensorflow/tfjs-node-gpu')))) {
    await initTrainingBackend('wasm');
    return {
      name: 'ort',
      source: `onnxruntime-node ${ort.env.versions.common}, ${threads} thread${threads > 1 ? 's' : ''}`,
      engine: (objective, settings) => createOrtEngine(objective, settings, { threads }),
    };
  }
  const tfjs = await initTrainingBackend(choice === 'auto' ? 'tensorflow-gpu' : choice);
  return { ...tfjs, engine: createTfjsEngine };
}
