import { join } from 'node:path';
import { mixSeed } from '../../models/diffusion/rng.ts';
import { vaeDecoder } from '../../models/nn/vae.ts';
import { encodePng } from '../../node/png.ts';
import { writeAtomic } from '../checkpoint.ts';
import { imageData, type RunContext, type StageSummary } from '../context.ts';
import type { FloatImage } from '../../models/image.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import type { Objective } from '../objective.ts';
import { trainLoop } from '../loop.ts';
import { imageGrid } from '../report/grid.ts';
import { loadWeights, saveWeights } from '../weights-io.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import { posteriorMeans, vaeReconstructions } from './latents.ts';
import { reconstructionLoss } from './vae.ts';

/**
 * The decoder alone, reconstructing each image from its posterior mean under the frozen encoder: what it is
 * handed in the pipeline, where the U-Net samples latents trained towards those means.
 */
export function decoderObjective(ctx: RunContext, ds: Dataset, means: Float32Array): Objective {
  const cfg = ctx.configs().vae;
  const { batchSize: b, l1 } = ctx.preset.stages.decoder!;
  const s = ctx.preset.imageSize;
  const l = ctx.configs().latentSize;
  const per = l * l * cfg.latentChannels;
  return {
    name: 'decoder',
    inputs: {
      latents: { shape: [b, l, l, cfg.latentChannels], dtype: 'float32', image: true },
      image: { shape: [b, s, s, 3], dtype: 'float32', image: true },
    },
    loss(net, x) {
      const ops = net('vae_decoder');
      return reconstructionLoss(ops, ops.sub(vaeDecoder(ops, cfg, x.latents), x.image), l1);
    },
    batch(step) {
      const idx = batchIndices(ds.samples.length, b, mixSeed(ctx.seed, 7), step);
      const latents = new Float32Array(b * per);
      idx.forEach((i, k) => latents.set(means.subarray(i * per, (i + 1) * per), k * per));
      return { latents, image: imageData(ds, idx) };
    },
  };
}

/** Held-out reconstruction PSNR (dB, over every pixel, images in [-1, 1]) and the first eight reconstructions of one decoder. */
async function heldOutReconstruction(ctx: RunContext, ds: Dataset, decoder: WeightMap): Promise<{ psnr: number; preview: FloatImage[] }> {
  const images = await vaeReconstructions(ctx, ds, decoder);
  let [se, pixels] = [0, 0];
  images.forEach((im, i) => {
    const x = ds.samples[i].image.data;
    for (let j = 0; j < x.length; j++) se += (im.data[j] - x[j]) ** 2;
    pixels += x.length;
  });
  return { psnr: 10 * Math.log10(4 / (se / pixels)), preview: images.slice(0, 8) };
}

/**
 * Fine-tunes the VAE stage's decoder (its exported EMA weights, fresh optimiser moments) with the encoder
 * frozen, and reports held-out PSNR before and after; `decoder/vae_decoder.bin` then replaces the VAE stage's
 * decoder everywhere (`RunContext.vaeDecoderPath`).
 */
export async function decoderStage(ctx: RunContext): Promise<StageSummary> {
  const sched = ctx.preset.stages.decoder;
  if (!sched) throw new Error(`preset ${ctx.preset.name} has no decoder stage`);
  const dir = ctx.stageDir('decoder');
  const { train, heldOut } = await ctx.data();
  const startPath = join(ctx.dir, 'vae', 'vae_decoder.bin');
  const start = loadWeights(startPath);
  const engine = await ctx.engine(decoderObjective(ctx, train, await posteriorMeans(ctx, train)), { emaDecay: ctx.preset.emaDecay });
  const tensors = engine.checkpointTensors();
  for (const [name, w] of start.weights) for (const kind of ['param', 'ema']) tensors.set(`${kind}:vae_decoder/${name}`, w);
  engine.restore(tensors, startPath);
  const before = await heldOutReconstruction(ctx, heldOut, start.weights);
  const result = await trainLoop({
    ...ctx.loopOptions('decoder', sched),
    sampleEvery: 500,
    engine,
    // Held-out images above, the VAE stage's decoder, then this one.
    onSample: async (step) => {
      const now = await heldOutReconstruction(ctx, heldOut, engine.weights('vae_decoder', 'ema'));
      const real = heldOut.samples.slice(0, before.preview.length).map((sample) => sample.image);
      const images = [...real, ...before.preview, ...now.preview];
      writeAtomic(join(dir, `reconstructions-${String(step).padStart(6, '0')}.png`), encodePng(imageGrid(images, real.length)));
      ctx.log(
        `decoder: step ${step}, held-out reconstruction PSNR ${now.psnr.toFixed(2)} dB (VAE stage's decoder ${before.psnr.toFixed(2)} dB)`,
      );
    },
  });
  const weights = engine.weights('vae_decoder', 'ema');
  const after = await heldOutReconstruction(ctx, heldOut, weights);
  saveWeights(join(dir, 'vae_decoder.bin'), weights, start.meta);
  engine.dispose();
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss, psnrBefore: before.psnr, psnr: after.psnr };
}
