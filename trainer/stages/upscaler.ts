import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { createSchedule } from '../../models/diffusion/schedule.ts';
import { downscale, resizeBicubic } from '../../models/image.ts';
import { createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import { unet } from '../../models/nn/unet.ts';
import { imageBatch, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices } from '../data/dataset.ts';
import { noisedBatch } from '../diffusion-loss.ts';
import { trainLoop } from '../loop.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore } from '../tfjs/params.ts';
import { saveWeights } from '../weights-io.ts';

/**
 * 2× super-resolution diffusion in pixel space, conditioned on the low-resolution image. It diffuses the
 * residual over bicubic upsampling and predicts x₀ with a zero-initialised output layer, so the untrained
 * network is exactly bicubic at any step count and training can only move it towards the truth; a 1-step
 * sample (zero terminal SNR) is the regression estimate. The condition is noise-augmented at a random level
 * in [0, 2·noiseLevel) (level 0 = clean), given to the network; inference uses `noiseLevel`.
 */
export async function upscalerStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('upscaler');
  const up = ctx.preset.upscaler;
  const cfg = ctx.configs().upscaler;
  if (!up || !cfg) throw new Error(`preset ${ctx.preset.name} has no upscaler`);
  const hi = (await ctx.data(2 * ctx.preset.imageSize)).train;
  const schedule = createSchedule(ctx.preset.schedule);
  const store = new ParamStore('upscaler', ctx.seed);
  const result = await trainLoop({
    ...ctx.loopOptions('upscaler', up),
    emaDecay: ctx.preset.emaDecay,
    stores: [store],
    loss: (step) => {
      const idx = batchIndices(hi.samples.length, up.batchSize, mixSeed(ctx.seed, 5), step);
      // Random crops: the upscaler is fully convolutional, so small crops train it at a fraction of the cost.
      const crop = up.cropSize;
      const full = imageBatch(hi, idx);
      const bicubicData = new Float32Array(full.size);
      idx.forEach((i, k) => {
        const im = hi.samples[i].image;
        bicubicData.set(resizeBicubic(downscale(im, 2), im.width, im.height).data, k * im.data.length);
      });
      const bicubic = tf.tensor4d(bicubicData, full.shape);
      const off = createUniformRng(mixSeed(ctx.seed, step, 0xc));
      const offsets = idx.map(() => [2 * Math.floor((off() * (hi.imageSize - crop)) / 2), 2 * Math.floor((off() * (hi.imageSize - crop)) / 2)]);
      const cropOf = (t: tf.Tensor4D) => tf.concat(offsets.map(([oy, ox], k) => tf.slice(t, [k, oy, ox, 0], [1, crop, crop, 3]))) as tf.Tensor4D;
      const x0 = cropOf(full);
      const low = tf.avgPool(x0, 2, 2, 'valid') as tf.Tensor4D;
      const rand = createUniformRng(mixSeed(ctx.seed, step, 0xa));
      const levels = Float32Array.from(idx, () => Math.floor(rand() * 2 * up.noiseLevel));
      // Level 0 is the clean image, as in the pipeline.
      const abar = (l: number) => (l > 0 ? schedule.alphasCumprod[l] : 1);
      const a = tf.tensor4d(Float32Array.from(levels, (l) => Math.sqrt(abar(l))), [idx.length, 1, 1, 1]);
      const s = tf.tensor4d(Float32Array.from(levels, (l) => Math.sqrt(1 - abar(l))), [idx.length, 1, 1, 1]);
      const lowAug = tf.add(tf.mul(a, low), tf.mul(s, tf.randomNormal(low.shape, 0, 1, 'float32', mixSeed(ctx.seed, step, 0xb))));
      const residual = tf.sub(x0, cropOf(bicubic)) as tf.Tensor4D;
      const { t, xt, target } = noisedBatch(schedule, residual, up.predictionType, mixSeed(ctx.seed, 6), step);
      const out = unet(tfjsOps(store), cfg, { sample: xt, timestep: t, lowRes: lowAug, noiseLevel: tf.tensor1d(levels) });
      return tf.mean(tf.squaredDifference(out, target)) as tf.Scalar;
    },
  });
  saveWeights(join(dir, 'upscaler.bin'), result.ema!.get('upscaler')!);
  store.dispose();
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss };
}
