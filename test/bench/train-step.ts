import { GRAPHS } from '../../models/bundle/graphs.ts';
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { createRng } from '../../models/diffusion/rng.ts';
import { validateUnetConfig } from '../../models/nn/configs.ts';
import { flopCounter } from '../../models/nn/flops.ts';
import { unet } from '../../models/nn/unet.ts';
import { exportUnet } from '../../models/onnx/export.ts';
import type { TrainingEngine } from '../../trainer/engine.ts';
import type { Objective } from '../../trainer/objective.ts';
import { createOrtEngine, ortFeeds } from '../../trainer/ort/engine.ts';
import { nchwcBlockSize } from '../../trainer/ort/nchwc.ts';
import { buildForwardGraph, paramInputName, storedShape } from '../../trainer/ort/train-graph.ts';
import { filterToOihw } from '../../models/nn/weights.ts';
import { initTrainingBackend } from '../../trainer/tfjs/backend.ts';
import { createTfjsEngine } from '../../trainer/tfjs/engine.ts';
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
const TEXT_LENGTH = 16;

/** One MSE denoising step on fixed random data: what the unet stage trains, minus the data pipeline. */
export function benchObjective(batch: number): Objective {
  const n = batch * 16 * 16 * 4;
  const feeds = {
    sample: createRng(1).fill(n),
    timestep: Float32Array.from({ length: batch }, (_, i) => (i * 997) % 1000),
    context: createRng(3).fill(batch * TEXT_LENGTH * BENCH_UNET.contextDim),
    target: createRng(4).fill(n),
  };
  return {
    name: 'bench',
    inputs: {
      sample: { shape: [batch, 16, 16, 4], dtype: 'float32', image: true },
      timestep: { shape: [batch], dtype: 'float32' },
      context: { shape: [batch, TEXT_LENGTH, BENCH_UNET.contextDim], dtype: 'float32' },
      target: { shape: [batch, 16, 16, 4], dtype: 'float32', image: true },
    },
    loss(net, x) {
      const ops = net('unet');
      const d = ops.sub(unet(ops, BENCH_UNET, { sample: x.sample, timestep: x.timestep, context: x.context }), x.target);
      return ops.meanAll(ops.mul(d, d));
    },
    batch: () => feeds,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeSteps(engine: TrainingEngine, steps: number, label: string, args: BenchArgs): Promise<number[]> {
  await engine.step(0, 1e-4); // warm-up: session set-up, first allocations
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await engine.step(i + 1, 1e-4);
    times.push(performance.now() - t0);
    args.progress(`${label} step ${i + 1}/${steps}: ${times[i].toFixed(0)} ms`);
  }
  return times;
}

/**
 * One optimiser step (forward, backward, clipping, AdamW, EMA) of the same objective on the ONNX training
 * graph (onnxruntime-node, every core) and on tfjs-wasm, side by side, plus the exported inference graph's
 * forward pass at the same batch, and the step's own forward half (fed parameters): the step over the exported
 * forward is the ratio; the step over its own forward says how close the backward pass is to its ideal
 * (≈ 2 forward passes, so ≈ 3 for the step). GFLOP/s count 3× the forward conv/matmul FLOPs.
 */
export async function trainStepBench(args: BenchArgs): Promise<unknown> {
  const batch = args.int('batch', 32);
  const steps = args.int('steps', 7);
  const threads = args.int('threads', availableParallelism());
  const objective = benchObjective(batch);
  const counter = flopCounter();
  unet(counter.ops, BENCH_UNET, {
    sample: { shape: [batch, 16, 16, 4] },
    timestep: { shape: [batch] },
    context: { shape: [batch, TEXT_LENGTH, BENCH_UNET.contextDim] },
  });
  const forwardFlops = counter.flops();

  const settings = { seed: 1, weightDecay: 0, clipNorm: 1, emaDecay: 0.999 };
  const nchwcBlock = await nchwcBlockSize();
  const ortEngine = await createOrtEngine(objective, settings, { threads, nchwcBlock });
  // Peak memory of the training engine alone, after its arena has grown, before the other sessions exist.
  for (let i = 0; i < 2; i++) await ortEngine.step(i, 1e-4);
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  // The same step with every conv on onnxruntime's generic kernels, side by side: what the NCHWc rewrite buys.
  const genericEngine = await createOrtEngine(objective, settings, { threads, nchwcBlock: 0 });
  const sessionOptions = { intraOpNumThreads: threads, graphOptimizationLevel: 'all' } as const;
  const session = await ort.InferenceSession.create(
    exportUnet(BENCH_UNET, 16, TEXT_LENGTH, ortEngine.weights('unet', 'param')),
    sessionOptions,
  );
  const feeds = objective.batch(0);
  const names = GRAPHS.unet.inputs;
  const forwardFeeds = {
    [names.sample]: new ort.Tensor('float32', feeds.sample as Float32Array, [batch, 4, 16, 16]),
    [names.timestep]: new ort.Tensor('float32', feeds.timestep as Float32Array, [batch]),
    [names.context]: new ort.Tensor('float32', feeds.context as Float32Array, [batch, TEXT_LENGTH, BENCH_UNET.contextDim]),
  };
  // The step's own forward half (parameters fed as inputs, as the step takes them): onnxruntime pre-packs
  // initializer weights for its blocked conv kernels once, fed ones are reordered in the graph every run, so this,
  // not the exported graph, is what the backward pass is measured against in `ortStepOverOwnForward`.
  const own = await ort.InferenceSession.create(buildForwardGraph(objective, ortEngine.params, { nchwcBlock }), sessionOptions);
  const weights = ortEngine.weights('unet', 'param');
  const ownFeeds = ortFeeds(objective, feeds);
  for (const p of ortEngine.params) {
    const w = weights.get(p.name)!.data;
    ownFeeds[paramInputName(p.key)] = new ort.Tensor('float32', p.filter ? filterToOihw(w, p.shape) : w, storedShape(p));
  }
  // Each in a run of its own (a forward right after a step runs ≈ 25 % slower, its caches cold), after two warm-up
  // runs (a session's first runs are slower while its arena grows); in rounds of four each, at least two, because
  // this machine drifts by ±10 % over a minute and shorter blocks interleave the four more finely.
  const block = async (run: () => Promise<unknown>, n: number) => {
    for (let w = 0; w < 2; w++) await run();
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    return times;
  };
  const [ortTimes, genericTimes, forwardTimes, ownTimes]: number[][] = [[], [], [], []];
  let step = 0;
  const rounds = Math.max(2, Math.ceil(steps / 4));
  for (let round = 0; round < rounds; round++) {
    const n = Math.ceil(steps / rounds);
    ortTimes.push(...(await block(() => ortEngine.step(++step, 1e-4), n)));
    genericTimes.push(...(await block(() => genericEngine.step(step, 1e-4), n)));
    forwardTimes.push(...(await block(() => session.run(forwardFeeds), n)));
    ownTimes.push(...(await block(() => own.run(ownFeeds), n)));
    args.progress(
      `round ${round + 1}/${rounds}: step ${median(ortTimes).toFixed(0)} ms (generic convs ${median(genericTimes).toFixed(0)} ms), forward ${median(forwardTimes).toFixed(0)} ms, own forward ${median(ownTimes).toFixed(0)} ms`,
    );
  }
  ortEngine.dispose();
  genericEngine.dispose();
  await Promise.all([own.release(), session.release()]);

  await initTrainingBackend('wasm');
  const wasmEngine = await createTfjsEngine(objective, settings);
  const wasmTimes = await timeSteps(wasmEngine, Math.max(2, Math.ceil(steps / 3)), 'wasm', args);
  wasmEngine.dispose();

  const ortMs = median(ortTimes);
  const forwardMs = median(forwardTimes);
  const ownForwardMs = median(ownTimes);
  const wasmMs = median(wasmTimes);
  const gflops = (ms: number) => Number(((3 * forwardFlops) / (ms * 1e6)).toFixed(1));
  return {
    bench: 'train-step',
    config: {
      latents: [4, 16, 16],
      baseChannels: 64,
      resolutions: 2,
      attention: 'self+cross at 8x8',
      textLength: TEXT_LENGTH,
      batch,
      threads,
      nchwcBlock,
    },
    parameters: ortEngine.params.reduce((s, p) => s + p.size, 0),
    forwardGflop: forwardFlops / 1e9,
    ort: {
      msPerStep: ortMs,
      minMsPerStep: Math.min(...ortTimes),
      msPerStepGenericConvs: median(genericTimes),
      forwardMs,
      ownForwardMs,
      achievedGflops: gflops(ortMs),
      peakRssMiB: Math.round(peakRssMiB),
    },
    wasm: { msPerStep: wasmMs, achievedGflops: gflops(wasmMs) },
    ratios: {
      wasmOverOrt: Number((wasmMs / ortMs).toFixed(2)),
      ortStepOverForward: Number((ortMs / forwardMs).toFixed(2)),
      ortStepOverOwnForward: Number((ortMs / ownForwardMs).toFixed(2)),
      genericConvsOverNchwc: Number((median(genericTimes) / ortMs).toFixed(2)),
    },
    goals: { wasmOverOrt: '>= 6', ortStepOverForward: '<= 4' },
  };
}
