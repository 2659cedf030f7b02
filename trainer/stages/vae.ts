import { join } from 'node:path';
import { createRng, mixSeed } from '../../models/diffusion/rng.ts';
import type { Ops } from '../../models/nn/ops.ts';
import { vaeDecoder, vaeEncoder } from '../../models/nn/vae.ts';
import { imageData, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import { encodePng } from '../../node/png.ts';
import { writeAtomic } from '../checkpoint.ts';
import { trainLoop } from '../loop.ts';
import { imageGrid } from '../report/grid.ts';
import { vaeSessions } from '../ort/inference.ts';
import type { Objective } from '../objective.ts';
import { saveWeights } from '../weights-io.ts';

/** MSE of a reconstruction's difference from its image, plus `l1` times its mean absolute value. */
export function reconstructionLoss<T>(ops: Ops<T>, diff: T, l1: number): T {
  const mse = ops.meanAll(ops.mul(diff, diff));
  return l1 > 0 ? ops.add(mse, ops.scale(ops.meanAll(ops.abs(diff)), l1)) : mse;
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
    inputs: {
      image: { shape: [b, s, s, 3], dtype: 'float32', image: true },
      noise: { shape: [b, l, l, cfg.latentChannels], dtype: 'float32', image: true },
    },
    loss(net, x) {
      const { mean, logvar } = vaeEncoder(net('vae_encoder'), cfg, x.image);
      const ops = net('vae_decoder');
      const lv = ops.clip(logvar, -20, 10);
      const z = ops.add(mean, ops.mul(ops.exp(ops.scale(lv, 0.5)), x.noise));
      const loss = reconstructionLoss(ops, ops.sub(vaeDecoder(ops, cfg, z), x.image), vaeL1);
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
  const engine = await ctx.engine(vaeObjective(ctx, ds), { emaDecay: ctx.preset.emaDecay });
  const preview = ds.samples.slice(0, 8).map((_, i) => i);
  const sessions = () =>
    vaeSessions(ctx.configs().vae, ctx.preset.imageSize, engine.weights('vae_encoder', 'ema'), engine.weights('vae_decoder', 'ema'));
  const result = await trainLoop({
    ...ctx.loopOptions('vae', sched),
    sampleEvery: 200,
    engine,
    onSample: async (step) => {
      const vae = await sessions();
      const x = imageData(ds, preview);
      const y = await vae.decode(await vae.encode(x, preview.length), preview.length);
      await vae.release();
      const s = ds.imageSize;
      const images = [x, y].flatMap((d) =>
        preview.map((_, k) => ({ width: s, height: s, data: d.slice(k * s * s * 3, (k + 1) * s * s * 3) })),
      );
      writeAtomic(join(dir, `reconstructions-${String(step).padStart(6, '0')}.png`), encodePng(imageGrid(images, 8)));
    },
  });
  // Scale latents to unit variance for diffusion, as Stable Diffusion's 0.18215 does for its VAE.
  const vae = await sessions();
  let [sum, sumSq, count, se, pixels] = [0, 0, 0, 0, 0];
  for (let i = 0; i < Math.min(ds.samples.length, 512); i += 32) {
    const idx = ds.samples.slice(i, i + 32).map((_, k) => i + k);
    const x = imageData(ds, idx);
    const lat = await vae.encode(x, idx.length);
    const y = await vae.decode(lat, idx.length);
    for (const v of lat) {
      sum += v;
      sumSq += v * v;
    }
    for (let j = 0; j < x.length; j++) se += (y[j] - x[j]) ** 2;
    count += lat.length;
    pixels += x.length;
  }
  await vae.release();
  const std = Math.sqrt(sumSq / count - (sum / count) ** 2);
  const psnr = 10 * Math.log10(4 / (se / pixels));
  const scaleFactor = 1 / Math.max(std, 1e-6);
  saveWeights(join(dir, 'vae_encoder.bin'), engine.weights('vae_encoder', 'ema'), { scaleFactor });
  saveWeights(join(dir, 'vae_decoder.bin'), engine.weights('vae_decoder', 'ema'), { scaleFactor });
  engine.dispose();
  ctx.log(`vae: reconstruction PSNR ${psnr.toFixed(2)} dB (training images), latent scale factor ${scaleFactor.toFixed(4)}`);
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss, scaleFactor, psnr };
}
