import { join } from 'node:path';
import { imageData, type RunContext, type StageSummary } from '../context.ts';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint.ts';
import { textStates, vaeSessions } from '../ort/inference.ts';
import { loadWeights } from '../weights-io.ts';

export interface LatentSet {
  /** Scaled latents [N, h, w, c]. */
  latents: Float32Array;
  /** Text hidden states of each distinct caption [K, T, D]; row 0 is the empty prompt (the unconditional context). */
  contexts: Float32Array;
  /** For each sample, its caption's row in `contexts`. */
  captionIndex: Int32Array;
  captions: string[];
}

/** Encode the dataset once: VAE latent means (scaled) and the frozen text encoder's states of every caption. */
export async function latentsStage(ctx: RunContext): Promise<StageSummary> {
  const t0 = Date.now();
  const dir = ctx.stageDir('latents');
  const ds = (await ctx.data()).train;
  const cfg = ctx.configs();
  const enc = loadWeights(join(ctx.dir, 'vae', 'vae_encoder.bin'));
  const vae = await vaeSessions(cfg.vae, ctx.preset.imageSize, enc.weights, loadWeights(join(ctx.dir, 'vae', 'vae_decoder.bin')).weights);
  const scaleFactor = enc.meta.scaleFactor as number;
  const captions = ['', ...new Set(ds.samples.map((s) => s.caption))];
  const row = new Map(captions.map((c, i) => [c, i]));
  const l = cfg.latentSize;
  const shape = [ds.samples.length, l, l, cfg.vae.latentChannels];
  const per = l * l * cfg.vae.latentChannels;
  const latents = new Float32Array(ds.samples.length * per);
  for (let i = 0; i < ds.samples.length; i += 64) {
    const idx = ds.samples.slice(i, i + 64).map((_, k) => i + k);
    const mean = await vae.encode(imageData(ds, idx), idx.length);
    for (let j = 0; j < mean.length; j++) latents[i * per + j] = mean[j] * scaleFactor;
  }
  await vae.release();
  const tok = ctx.tokenizer();
  const width = cfg.textEncoder.width;
  const textWeights = loadWeights(join(ctx.dir, 'clip', 'text_encoder.bin')).weights;
  const contexts = new Float32Array(captions.length * tok.maxLength * width);
  for (let i = 0; i < captions.length; i += 256) {
    const chunk = captions.slice(i, i + 256);
    contexts.set(await textStates(cfg.textEncoder, textWeights, tok.encodeBatch(chunk), chunk.length), i * tok.maxLength * width);
  }
  saveCheckpoint(join(dir, 'latents.bin'), {
    step: 0,
    meta: { captions },
    tensors: new Map([
      ['latents', { shape, data: latents }],
      ['contexts', { shape: [captions.length, tok.maxLength, width], data: contexts }],
      ['captionIndex', { shape: [ds.samples.length], data: Float32Array.from(ds.samples, (s) => row.get(s.caption)!) }],
    ]),
  });
  ctx.log(`latents: ${ds.samples.length} images → ${shape.slice(1).join('×')} latents, ${captions.length} distinct captions`);
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000, samples: ds.samples.length, captions: captions.length };
}

export function loadLatents(ctx: RunContext): LatentSet & { latentShape: number[]; contextShape: number[] } {
  const ckpt = loadCheckpoint(join(ctx.dir, 'latents', 'latents.bin'));
  if (!ckpt) throw new Error('missing latents: run the latents stage first');
  const l = ckpt.tensors.get('latents')!;
  const c = ckpt.tensors.get('contexts')!;
  return {
    latents: l.data,
    latentShape: l.shape,
    contexts: c.data,
    contextShape: c.shape,
    captionIndex: Int32Array.from(ckpt.tensors.get('captionIndex')!.data),
    captions: ckpt.meta.captions as string[],
  };
}
