import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { createRng, mixSeed } from '../../models/diffusion/rng.ts';
import { vaeDecoder, vaeEncoder } from '../../models/nn/vae.ts';
import { imageBatch, imageData, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import { encodePng } from '../data/png.ts';
import { writeAtomic } from '../checkpoint.ts';
import { trainLoop } from '../loop.ts';
import { imageGrid } from '../report/grid.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore, storeOf } from '../tfjs/params.ts';
import type { Objective } from '../objective.ts';
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

/**
 * The VAE objective: reconstruction (MSE, plus L1 where the preset weights it: sharper edges, no colour
 * drift) + a small KL to N(0, I), through a reparameterised sample whose noise comes from (seed, step).
 */
export function vaeObjective(ctx: RunContext, ds: Dataset): Objective {
  const cfg = ctx.configs().vae;
  const sched = ctx.preset.stages.vae;
  const s = ctx.preset.imageSize;
  const l = ctx.configs().latentSize;
  const b = sched.batchSize;
  const { klWeight, vaeL1 = 0 } = ctx.preset;
  return {
    name: 'vae',
    inputs: { image: { shape: [b, s, s, 3], dtype: 'float32', image: true }, noise: { shape: [b, l, l, cfg.latentChannels], dtype: 'float32', image: true } },
    loss(net, x) {
      const { mean, logvar } = vaeEncoder(net('vae_encoder'), cfg, x.image);
      const ops = net('vae_decoder');
      const lv = ops.clip(logvar, -20, 10);
      const z = ops.add(mean, ops.mul(ops.exp(ops.scale(lv, 0.5)), x.noise));
      const diff = ops.sub(vaeDecoder(ops, cfg, z), x.image);
      let loss = ops.meanAll(ops.mul(diff, diff));
      if (vaeL1 > 0) loss = ops.add(loss, ops.scale(ops.meanAll(ops.abs(diff)), vaeL1));
      const kl = ops.scale(ops.meanAll(ops.sub(ops.add(ops.mul(mean, mean), ops.exp(lv)), ops.addScalar(lv, 1))), 0.5);
      return ops.add(loss, ops.scale(kl, klWeight));
    },
    batch: (step) => ({
      image: imageData(ds, batchIndices(ds.samples.length, b, mixSeed(ctx.seed, 2), step)),
      noise: createRng(mixSeed(ctx.seed, 3, step)).fill(b * l * l * cfg.latentChannels),
    }),
  };
}

export async function vaeStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('vae');
  const ds = (await ctx.data()).train;
  const sched = ctx.preset.stages.vae;
  const engine = await ctx.engine(vaeObjective(ctx, ds));
  const preview = ds.samples.slice(0, 8).map((_, i) => i);
  const current = () => vaeModel(ctx, storeOf('vae_encoder', engine.weights('vae_encoder', 'param')), storeOf('vae_decoder', engine.weights('vae_decoder', 'param')));
  const result = await trainLoop({
    ...ctx.loopOptions('vae', sched),
    sampleEvery: 200,
    engine,
    onSample: (step) => {
      const m = current();
      const grid = tf.tidy(() => {
        const x = imageBatch(ds, preview);
        const y = m.decode(m.encode(x).mean);
        return tf.concat([x, y], 0).dataSync() as Float32Array;
      });
      m.encoder.dispose();
      m.decoder.dispose();
      const s = ds.imageSize;
      const images = Array.from({ length: 16 }, (_, k) => ({ width: s, height: s, data: grid.slice(k * s * s * 3, (k + 1) * s * s * 3) }));
      writeAtomic(join(dir, `reconstructions-${String(step).padStart(6, '0')}.png`), encodePng(imageGrid(images, 8)));
    },
  });
  const m = current();
  engine.dispose();
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
