import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { createSchedule } from '../../models/diffusion/schedule.ts';
import { createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import { unet } from '../../models/nn/unet.ts';
import { generate } from '../../models/pipeline/generate.ts';
import { batchToImages } from '../../models/pipeline/layout.ts';
import type { Manifest } from '../../models/bundle/manifest.ts';
import { writeAtomic } from '../checkpoint.ts';
import type { RunContext, StageSummary } from '../context.ts';
import { batchIndices } from '../data/dataset.ts';
import { encodePng } from '../data/png.ts';
import { noisedBatch } from '../diffusion-loss.ts';
import { trainLoop } from '../loop.ts';
import { imageGrid } from '../report/grid.ts';
import { tfjsRuntime } from '../runtime-tfjs.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore } from '../tfjs/params.ts';
import type { Preset } from '../presets.ts';
import { saveWeights } from '../weights-io.ts';
import { loadLatents } from './latents.ts';
import { loadClip } from './clip.ts';
import { loadVae } from './vae.ts';

/** The fields of a manifest the pipeline reads, from the run's configs (before any bundle exists). */
export function pipelineManifest(ctx: RunContext, scaleFactor: number): Manifest {
  const p = ctx.preset;
  const cfg = ctx.configs();
  return {
    latent: { channels: cfg.vae.latentChannels, size: cfg.latentSize, scaleFactor },
    ...diffusionManifest(p),
  } as Manifest;
}

/** How a preset samples: the manifest's `diffusion` and `upscale` sections. */
export function diffusionManifest(p: Preset): Pick<Manifest, 'diffusion' | 'upscale'> {
  const schedule = createSchedule(p.schedule).config;
  return {
    diffusion: { schedule, predictionType: p.predictionType, defaults: p.defaults },
    upscale: p.upscaler ? { factor: 2, noiseLevel: p.upscaler.noiseLevel, steps: p.upscaler.sampleSteps, predictionType: p.upscaler.predictionType, schedule } : undefined,
  };
}

/** Fixed prompts for sample grids: the first held-out captions. */
export async function samplePrompts(ctx: RunContext, n = 8): Promise<string[]> {
  return (await ctx.data()).heldOut.samples.slice(0, n).map((s) => s.caption);
}

/** Latent diffusion on frozen text states, condition dropout for classifier-free guidance, EMA weights. */
export async function unetStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('unet');
  const p = ctx.preset;
  const sched = p.stages.unet;
  const cfg = ctx.configs().unet;
  const data = loadLatents(ctx);
  const schedule = createSchedule(p.schedule);
  const store = new ParamStore('unet', ctx.seed);
  const [, h, w, c] = data.latentShape;
  const [, T, D] = data.contextShape;
  const n = data.captionIndex.length;
  const latentSize = h * w * c;
  const ctxSize = T * D;
  const clip = loadClip(ctx);
  const vae = loadVae(ctx);
  const prompts = await samplePrompts(ctx);
  const promptStates = tf.tidy(() => ({ cond: clip.hidden(prompts).dataSync() as Float32Array, uncond: clip.hidden(prompts.map(() => '')).dataSync() as Float32Array }));
  const manifest = pipelineManifest(ctx, vae.scaleFactor);

  const sampleGrid = async (step: number, file: string) => {
    const runtime = tfjsRuntime(cfg, store, vae);
    const dims = [prompts.length, T, D];
    const rows = [];
    for (const guidance of [1, p.defaults.guidance]) {
      const out = await generate(runtime, manifest, { cond: { data: promptStates.cond, dims }, uncond: { data: promptStates.uncond, dims }, seed: 1234, guidance, steps: p.defaults.steps });
      rows.push(...batchToImages(out.data, out.dims));
    }
    writeAtomic(join(dir, file), encodePng(imageGrid(rows, prompts.length)));
    ctx.log(`\nunet: sample grid at step ${step} → ${join(dir, file)} (rows: guidance 1, ${p.defaults.guidance})`);
  };

  const result = await trainLoop({
    ...ctx.loopOptions('unet', sched),
    emaDecay: p.emaDecay,
    sampleEvery: 500,
    stores: [store],
    loss: (step) => {
      const idx = batchIndices(n, sched.batchSize, mixSeed(ctx.seed, 4), step);
      const x0 = new Float32Array(idx.length * latentSize);
      const context = new Float32Array(idx.length * ctxSize);
      const dropout = createUniformRng(mixSeed(ctx.seed, step, 0x9));
      idx.forEach((i, k) => {
        x0.set(data.latents.subarray(i * latentSize, (i + 1) * latentSize), k * latentSize);
        // Condition dropout: the empty prompt's states (row 0) are what inference uses as "unconditional".
        const row = dropout() < p.conditionDropout ? 0 : data.captionIndex[i];
        context.set(data.contexts.subarray(row * ctxSize, (row + 1) * ctxSize), k * ctxSize);
      });
      const { t, xt, target } = noisedBatch(schedule, tf.tensor4d(x0, [idx.length, h, w, c]), p.predictionType, ctx.seed, step);
      const out = unet(tfjsOps(store), cfg, { sample: xt, timestep: t, context: tf.tensor3d(context, [idx.length, T, D]) });
      return tf.mean(tf.squaredDifference(out, target)) as tf.Scalar;
    },
    onSample: (step) => sampleGrid(step, `samples-${String(step).padStart(6, '0')}.png`),
  });
  const ema = result.ema!.get('unet')!;
  saveWeights(join(dir, 'unet.bin'), ema);
  [vae.encoder, vae.decoder, clip.text, clip.image, store].forEach((s) => s.dispose());
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss };
}
