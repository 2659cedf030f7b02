import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node build ships no gradients; the union package's Node build registers all of them in the
// global registry that every tfjs copy shares (tfjs-core's own register_all_gradients is ESM Node cannot load).
import '@tensorflow/tfjs';
import { InvalidArgumentError } from '../../models/errors.ts';
import { registerWasmTrainingKernels } from './wasm-kernels.ts';

export const TRAINING_BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type TrainingBackendChoice = (typeof TRAINING_BACKENDS)[number];

export interface TrainingBackend {
  /** tfjs's name of the active back end. */
  name: string;
  /** Which package provides it. */
  source: string;
}

/** Whether an optional package loads here (tfjs-node and tfjs-node-gpu need libtensorflow). */
export async function tryImport(pkg: string): Promise<boolean> {
  try {
    // A variable specifier: these optional packages are absent where libtensorflow cannot be installed.
    await import(/* @vite-ignore */ pkg);
    return true;
  } catch {
    return false;
  }
}

async function activate(name: string, source: string): Promise<TrainingBackend> {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs back end '${name}' failed to initialise`);
  await tf.ready();
  return { name, source };
}

/**
 * One place that picks the training back end: native TensorFlow with CUDA if it loads, then native
 * TensorFlow on CPU, then WebAssembly (XNNPACK) with the training kernels it lacks. The pure-JS `cpu`
 * back end is ~1000× slower and used only when asked for (as a reference in tests).
 */
export async function initTrainingBackend(choice: TrainingBackendChoice = 'auto'): Promise<TrainingBackend> {
  if (!TRAINING_BACKENDS.includes(choice)) {
    throw new InvalidArgumentError('backend', `must be one of ${TRAINING_BACKENDS.join(', ')}, got '${choice}'`);
  }
  if ((choice === 'auto' || choice === 'tensorflow-gpu') && (await tryImport('@tensorflow/tfjs-node-gpu'))) {
    return activate('tensorflow', '@tensorflow/tfjs-node-gpu');
  }
  if (choice === 'tensorflow-gpu')
    throw new InvalidArgumentError('backend', '@tensorflow/tfjs-node-gpu is not installed or failed to load');
  if ((choice === 'auto' || choice === 'tensorflow') && (await tryImport('@tensorflow/tfjs-node'))) {
    return activate('tensorflow', '@tensorflow/tfjs-node');
  }
  if (choice === 'tensorflow') throw new InvalidArgumentError('backend', '@tensorflow/tfjs-node is not installed or failed to load');
  if (choice === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    return activate('cpu', '@tensorflow/tfjs-backend-cpu');
  }
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
  return activate('wasm', '@tensorflow/tfjs-backend-wasm');
}
