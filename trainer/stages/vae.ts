import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { mixSeed } from '../../models/diffusion/rng.ts';
import { vaeDecoder, vaeEncoder } from '../../models/nn/vae.ts';
import { imageBatch, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices } from '../data/dataset.ts';
import { encodePng } from '../data/png.ts';
import { writeAtomic } from '../checkpoint.ts';
import { trainLoop } from '../loop.ts';
import { imageGrid } from '../report/grid.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore } from '../tfjs/params.ts';
import { loadWeights, saveWeights } from '../weights-io.ts';

export interface VaeModel {
  encoder: ParamStore;
  decoder: ParamStore;
  encode(images: tf.Tensor4D): { mean: tf.Tensor4D; logvar: tf.Tensor4D };
  decode(latents: tf.Tensor4D): tf.Tensor4D;
}

export function vaeModel(ctx: RunContext, encoder: ParamStore, decoder: ParamStore): VaeModel {
  const cfg = ctx.configs().vae;
  return {
    encoder,
    decoder,
    encode: (x) => vaeEncoder(tfjsOps(encoder), cfg, x) as { mean: tf.Tensor4D; logvar: tf.Tensor4D },
    decode: (z) => vaeDecoder(tfjsOps(decoder), cfg, z) as tf.Tensor4D,
  };
}

export function loadVae(ctx: RunContext): VaeModel & { scaleFactor: number } {
  const m = vaeModel(ctx, new ParamStore('vae_encoder', ctx.seed), new ParamStore('vae_decoder', ctx.seed));
  const s = ctx.preset.imageSize;
  const l = ctx.configs().latentSize;
  tf.tidy(() => {
    m.encode(tf.zeros([1, s, s, 3]));
    m.decode(tf.zeros([1, l, l, ctx.configs().vae.latentChannels]));
  });
  const enc = loadWeights(join(ctx.dir, 'vae', 'vae_encoder.bin'));
  m.encoder.load(enc.weights);
  m.decoder.load(loadWeights(join(ctx.dir, 'vae', 'vae_decoder.bin')).weights);
  return { ...m, scaleFactor: enc.meta.scaleFactor as number };
}

/** Reconstruction (MSE) + a small KL to N(0, I); records the latent scale factor 1/std of the latents. */
export async function vaeStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('vae');
  const ds = (await ctx.data()).train;
  const sched = ctx.preset.stages.vae;
  const m = vaeModel(ctx, new ParamStore('vae_encoder', ctx.seed), new ParamStore('vae_decoder', ctx.seed));
  const preview = ds.samples.slice(0, 8).map((_, i) => i);
  const result = await trainLoop({
    ...ctx.loopOptions('vae', sched),
    sampleEvery: 200,
    stores: [m.encoder, m.decoder],
    loss: (step) => {
      const x = imageBatch(ds, batchIndices(ds.samples.length, sched.batchSize, mixSeed(ctx.seed, 2), step));
      const { mean, logvar } = m.encode(x);
      const lv = tf.clipByValue(logvar, -20, 10);
      const z = tf.add(mean, tf.mul(tf.exp(tf.mul(lv, 0.5)), tf.randomNormal(mean.shape, 0, 1, 'float32', mixSeed(ctx.seed, 3, step))));
      const recon = tf.mean(tf.squaredDifference(m.decode(z as tf.Tensor4D), x));
      const kl = tf.mul(tf.mean(tf.sub(tf.add(tf.square(mean), tf.exp(lv)), tf.add(lv, 1))), 0.5);
      return tf.add(recon, tf.mul(kl, ctx.preset.klWeight)) as tf.Scalar;
    },
    onSample: (step) => {
      const grid = tf.tidy(() => {
        const x = imageBatch(ds, preview);
        const y = m.decode(m.encode(x).mean);
        return tf.concat([x, y], 0).dataSync() as Float32Array;
      });
      const s = ds.imageSize;
      const images = Array.from({ length: 16 }, (_, k) => ({ width: s, height: s, data: grid.slice(k * s * s * 3, (k + 1) * s * s * 3) }));
      writeAtomic(join(dir, `reconstructions-${String(step).padStart(6, '0')}.png`), encodePng(imageGrid(images, 8)));
    },
  });
  // Scale latents to unit variance for diffusion, as Stable Diffusion's 0.18215 does for its VAE.
  // In chunks: the wasm heap is bounded, and a whole dataset through the decoder at once exhausts it.
  let [sum, sumSq, count, se, pixels] = [0, 0, 0, 0, 0];
  for (let i = 0; i < Math.min(ds.samples.length, 512); i += 32) {
    const idx = ds.samples.slice(i, i + 32).map((_, k) => i + k);
    const [lat, sq] = tf.tidy(() => {
      const x = imageBatch(ds, idx);
      const mean = m.encode(x).mean;
      return [mean.dataSync() as Float32Array, tf.sum(tf.reshape(tf.squaredDifference(m.decode(mean), x), [-1])).dataSync()[0]] as const;
    });
    for (const v of lat) {
      sum += v;
      sumSq += v * v;
    }
    count += lat.length;
    se += sq;
    pixels += idx.length * ds.imageSize * ds.imageSize * 3;
  }
  const std = Math.sqrt(sumSq / count - (sum / count) ** 2);
  const psnr = 10 * Math.log10(4 / (se / pixels));
  const scaleFactor = 1 / Math.max(std, 1e-6);
  saveWeights(join(dir, 'vae_encoder.bin'), m.encoder.export(), { scaleFactor });
  saveWeights(join(dir, 'vae_decoder.bin'), m.decoder.export(), { scaleFactor });
  ctx.log(`vae: reconstruction PSNR ${psnr.toFixed(2)} dB, latent scale factor ${scaleFactor.toFixed(4)}`);
  m.encoder.dispose();
  m.decoder.dispose();
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss, scaleFactor, psnr };
}
