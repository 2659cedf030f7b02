import * as tf from '@tensorflow/tfjs-core';
import { validateUnetConfig } from '../../models/nn/configs.ts';
import { flopCounter } from '../../models/nn/flops.ts';
import { unet } from '../../models/nn/unet.ts';
import { initTrainingBackend, type TrainingBackendChoice } from '../../trainer/tfjs/backend.ts';
import { tfjsOps } from '../../trainer/tfjs/ops.ts';
import { ParamStore } from '../../trainer/tfjs/params.ts';
import type { BenchArgs } from './args.ts';

/** The reference config: 4×16×16 latents, base 64 channels, 2 resolutions, self+cross attention at 8×8. */
export const BENCH_UNET = validateUnetConfig({
  inChannels: 4,
  outChannels: 4,
  conditionChannels: 0,
  levels: [
    { channels: 64, resBlocks: 1, attention: 'none' },
    { channels: 128, resBlocks: 1, attention: 'self+cross' },
  ],
  midAttention: 'self+cross',
  groups: 32,
  heads: 4,
  contextDim: 128,
  timeEmbedDim: 64,
  noiseLevelInput: false,
});

/**
 * One optimiser step of ε-prediction training (forward, backward, Adam) on the chosen back end. Achieved
 * GFLOP/s counts 3× the forward conv/matmul FLOPs (forward + two backward products), the usual convention.
 */
export async function trainStepBench(args: BenchArgs): Promise<unknown> {
  const backend = await initTrainingBackend(args.str('backend', 'auto') as TrainingBackendChoice);
  const batch = args.int('batch', 32);
  const steps = args.int('steps', 5);
  const textLength = 16;
  const counter = flopCounter();
  unet(counter.ops, BENCH_UNET, {
    sample: { shape: [batch, 16, 16, 4] },
    timestep: { shape: [batch] },
    context: { shape: [batch, textLength, BENCH_UNET.contextDim] },
  });
  const forwardFlops = counter.flops();

  const store = new ParamStore('bench', 1);
  const ops = tfjsOps(store);
  const sample = tf.randomNormal([batch, 16, 16, 4], 0, 1, 'float32', 1);
  const timestep = tf.randomUniform([batch], 0, 1000, 'float32', 2);
  const context = tf.randomNormal([batch, textLength, BENCH_UNET.contextDim], 0, 1, 'float32', 3);
  const target = tf.randomNormal([batch, 16, 16, 4], 0, 1, 'float32', 4);
  const loss = () => tf.mean(tf.squaredDifference(unet(ops, BENCH_UNET, { sample, timestep, context }), target)) as tf.Scalar;
  tf.tidy(loss); // create the parameters
  const optimizer = tf.train.adam(1e-4);
  const step = async () => {
    const l = optimizer.minimize(loss, true);
    await l!.data();
    l!.dispose();
  };
  await step(); // warm-up: kernel setup, first allocations

  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
    args.progress(`step ${i + 1}/${steps}: ${times[i].toFixed(0)} ms`);
  }
  times.sort((a, b) => a - b);
  const msPerStep = times[Math.floor(times.length / 2)];
  const minMsPerStep = times[0];

  // Where the time goes: one profiled step, kernel time summed by kernel name.
  const profile = await tf.profile(step);
  const byKernel = new Map<string, number>();
  // Entries named `…__op` are custom-gradient wrappers whose time already includes their inner kernel.
  for (const k of profile.kernels.filter((k) => !k.name.endsWith('__op'))) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
  const kernelTotal = [...byKernel.values()].reduce((a, b) => a + b, 0);
  const topKernels = [...byKernel.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([name, ms]) => ({ name, ms: Number(ms.toFixed(1)), share: Number((ms / kernelTotal).toFixed(3)) }));

  return {
    bench: 'train-step',
    backend,
    config: { latents: [4, 16, 16], baseChannels: 64, resolutions: 2, attention: 'self+cross at 8x8', textLength, batch },
    parameters: [...store.variables.values()].reduce((s, v) => s + v.size, 0),
    forwardGflop: forwardFlops / 1e9,
    msPerStep,
    minMsPerStep,
    samplesPerSecond: (batch * 1000) / msPerStep,
    achievedGflops: (3 * forwardFlops) / (msPerStep * 1e6),
    bestGflops: (3 * forwardFlops) / (minMsPerStep * 1e6),
    goalGflops: 10,
    profile: { kernelMs: Number(kernelTotal.toFixed(1)), topKernels },
  };
}
