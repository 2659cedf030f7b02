import { join } from 'node:path';
import { createSchedule } from '../../models/diffusion/schedule.ts';
import { cropImage, downscale, resizeBicubic, type FloatImage } from '../../models/image.ts';
import { createRng, createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import { unet } from '../../models/nn/unet.ts';
import type { RunContext, StageSummary } from '../context.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import { noisedBatch } from '../diffusion-loss.ts';
import { trainLoop } from '../loop.ts';
import type { Objective } from '../objective.ts';
import { loadWeights, saveWeights } from '../weights-io.ts';
import { vaeReconstructions } from './latents.ts';

/**
 * 2× super-resolution diffusion in pixel space, conditioned on the low-resolution image (box-downscaled or,
 * per preset, the VAE's reconstruction of it). It diffuses the
 * residual over bicubic upsampling and predicts x₀ with a zero-initialised output layer, so the untrained
 * network is exactly bicubic at any step count and training can only move it towards the truth; a 1-step
 * sample (zero terminal SNR) is the regression estimate. The condition is noise-augmented at a random level
 * in [0, 2·noiseLevel) (level 0 = clean), given to the network; inference uses `noiseLevel`.
 */
/**
 * `conditions[i]` is the low-resolution image the upscaler sees for training sample i (half the size of
 * `hi`'s images); the target is the residual of the true image over its bicubic upsampling.
 */
export function upscalerObjective(ctx: RunContext, hi: Dataset, conditions: FloatImage[]): Objective {
  const up = ctx.preset.upscaler!;
  const cfg = ctx.configs().upscaler!;
  const schedule = createSchedule(ctx.preset.schedule);
  const b = up.batchSize;
  const crop = up.cropSize;
  const half = crop / 2;
  return {
    name: 'upscaler',
    inputs: {
      sample: { shape: [b, crop, crop, 3], dtype: 'float32', image: true },
      timestep: { shape: [b], dtype: 'float32' },
      lowRes: { shape: [b, half, half, 3], dtype: 'float32', image: true },
      noiseLevel: { shape: [b], dtype: 'float32' },
      target: { shape: [b, crop, crop, 3], dtype: 'float32', image: true },
    },
    loss(net, x) {
      const ops = net('upscaler');
      const d = ops.sub(unet(ops, cfg, { sample: x.sample, timestep: x.timestep, lowRes: x.lowRes, noiseLevel: x.noiseLevel }), x.target);
      return ops.meanAll(ops.mul(d, d));
    },
    batch(step) {
      const idx = batchIndices(hi.samples.length, b, mixSeed(ctx.seed, 5), step);
      // Random crops: the upscaler is fully convolutional, so small crops train it at a fraction of the cost.
      const off = createUniformRng(mixSeed(ctx.seed, step, 0xc));
      const residual = new Float32Array(b * crop * crop * 3);
      const low = new Float32Array(b * half * half * 3);
      idx.forEach((i, k) => {
        const im = hi.samples[i].image;
        const [oy, ox] = [0, 0].map(() => 2 * Math.floor((off() * (hi.imageSize - crop)) / 2));
        const x0 = cropImage(im, oy, ox, crop);
        const base = cropImage(resizeBicubic(conditions[i], im.width, im.height), oy, ox, crop);
        for (let j = 0; j < x0.data.length; j++) residual[k * x0.data.length + j] = x0.data[j] - base.data[j];
        low.set(cropImage(conditions[i], oy / 2, ox / 2, half).data, k * half * half * 3);
      });
      const rand = createUniformRng(mixSeed(ctx.seed, step, 0xa));
      const levels = Float32Array.from(idx, () => Math.floor(rand() * 2 * up.noiseLevel));
      // Level 0 is the clean image, as in the pipeline.
      const noise = createRng(mixSeed(ctx.seed, step, 0xb)).fill(low.length);
      const per = half * half * 3;
      levels.forEach((level, k) => {
        const abar = level > 0 ? schedule.alphasCumprod[level] : 1;
        for (let j = k * per; j < (k + 1) * per; j++) low[j] = Math.sqrt(abar) * low[j] + Math.sqrt(1 - abar) * noise[j];
      });
      const { t, xt, target } = noisedBatch(schedule, residual, b, up.predictionType, mixSeed(ctx.seed, 6), step);
      return { sample: xt, timestep: t, lowRes: low, noiseLevel: levels, target };
    },
  };
}

export async function upscalerStage(ctx: RunContext): Promise<StageSummary> {
  const up = ctx.preset.upscaler;
  if (!up || !ctx.configs().upscaler) throw new Error(`preset ${ctx.preset.name} has no upscaler`);
  const dir = ctx.stageDir('upscaler');
  const hi = (await ctx.data(2 * ctx.preset.imageSize)).train;
  const base = (await ctx.data()).train;
  if (up.condition === 'vae' && base.samples.some((s, i) => s.caption !== hi.samples[i]?.caption)) {
    throw new Error(
      `upscaler: the ${ctx.preset.imageSize} px and ${hi.imageSize} px training sets differ (files skipped at one size); use condition 'downscale'`,
    );
  }
  const conditions =
    up.condition === 'vae'
      ? await vaeReconstructions(ctx, base, loadWeights(ctx.vaeDecoderPath()).weights)
      : hi.samples.map((s) => downscale(s.image, 2));
  const engine = await ctx.engine(upscalerObjective(ctx, hi, conditions), { emaDecay: ctx.preset.emaDecay });
  const result = await trainLoop({ ...ctx.loopOptions('upscaler', up), engine });
  saveWeights(join(dir, 'upscaler.bin'), engine.weights('upscaler', 'ema'));
  engine.dispose();
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss };
}
