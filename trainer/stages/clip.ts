import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { mixSeed } from '../../models/diffusion/rng.ts';
import { imageEncoder } from '../../models/nn/image-encoder.ts';
import { textEncoder } from '../../models/nn/text-encoder.ts';
import { imageBatch, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import { trainLoop } from '../loop.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore } from '../tfjs/params.ts';
import { saveWeights, loadWeights } from '../weights-io.ts';

const l2 = (x: tf.Tensor) => tf.div(x, tf.add(tf.norm(x, 'euclidean', -1, true), 1e-6));

/** Text ids [N, T] for a list of captions. */
export function tokenize(ctx: RunContext, captions: string[]): tf.Tensor2D {
  const tok = ctx.tokenizer();
  return tf.tensor2d(tok.encodeBatch(captions), [captions.length, tok.maxLength], 'int32');
}

export interface ClipModel {
  text: ParamStore;
  image: ParamStore;
  embedText(captions: string[]): tf.Tensor2D;
  embedImages(images: tf.Tensor4D): tf.Tensor2D;
  hidden(captions: string[]): tf.Tensor3D;
}

export function clipModel(ctx: RunContext, text: ParamStore, image: ParamStore): ClipModel {
  const cfg = ctx.configs();
  return {
    text,
    image,
    embedText: (captions) => l2(textEncoder(tfjsOps(text), cfg.textEncoder, tokenize(ctx, captions)).pooled) as tf.Tensor2D,
    embedImages: (images) => l2(imageEncoder(tfjsOps(image), cfg.imageEncoder, images)) as tf.Tensor2D,
    hidden: (captions) => textEncoder(tfjsOps(text), cfg.textEncoder, tokenize(ctx, captions)).hidden as tf.Tensor3D,
  };
}

/** The trained CLIP towers, read back from the clip stage's weights. */
export function loadClip(ctx: RunContext): ClipModel {
  const text = new ParamStore('text_encoder', ctx.seed);
  const image = new ParamStore('image_encoder', ctx.seed);
  const m = clipModel(ctx, text, image);
  tf.tidy(() => {
    m.embedText(['']);
    m.embedImages(tf.zeros([1, ctx.preset.imageSize, ctx.preset.imageSize, 3]));
  });
  text.load(loadWeights(join(ctx.dir, 'clip', 'text_encoder.bin')).weights);
  image.load(loadWeights(join(ctx.dir, 'clip', 'image_encoder.bin')).weights);
  return m;
}

/**
 * Zero-shot caption retrieval: for each image, the best-matching caption among all distinct captions of
 * the set. Returns accuracy and the chance level (1 / number of distinct captions).
 */
export function retrievalAccuracy(model: ClipModel, ds: Dataset): { accuracy: number; chance: number; candidates: number } {
  const captions = [...new Set(ds.samples.map((s) => s.caption))];
  const index = new Map(captions.map((c, i) => [c, i]));
  const best = tf.tidy(() => {
    const t = model.embedText(captions);
    const i = model.embedImages(imageBatch(ds, ds.samples.map((_, k) => k)));
    return tf.argMax(tf.matMul(i, t, false, true), 1).dataSync();
  });
  const correct = ds.samples.filter((s, k) => best[k] === index.get(s.caption)).length;
  return { accuracy: correct / ds.samples.length, chance: 1 / captions.length, candidates: captions.length };
}

/** Symmetric InfoNCE with a learned temperature; captions repeated in a batch count as joint positives. */
export async function clipStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('clip');
  const ds = (await ctx.data()).train;
  const sched = ctx.preset.stages.clip;
  const text = new ParamStore('text_encoder', ctx.seed);
  const image = new ParamStore('image_encoder', ctx.seed);
  const temp = new ParamStore('clip', ctx.seed);
  const model = clipModel(ctx, text, image);
  const logitScale = temp.get('logit_scale', [], { kind: 'zeros' });
  logitScale.assign(tf.scalar(Math.log(1 / 0.07)));
  const n = ds.samples.length;
  const result = await trainLoop({
    ...ctx.loopOptions('clip', sched),
    weightDecay: 0.01,
    stores: [text, image, temp],
    loss: (step) => {
      const idx = batchIndices(n, sched.batchSize, mixSeed(ctx.seed, 1), step);
      const caps = idx.map((i) => ds.samples[i].caption);
      const same = tf.tensor2d(caps.flatMap((a) => caps.map((b) => (a === b ? 1 : 0))), [caps.length, caps.length]);
      const targets = tf.div(same, tf.sum(same, 1, true));
      const logits = tf.mul(tf.matMul(model.embedImages(imageBatch(ds, idx)), model.embedText(caps), false, true), tf.exp(tf.minimum(logitScale, Math.log(100))));
      const ce = (l: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(l)), 1)));
      return tf.div(tf.add(ce(logits), ce(tf.transpose(logits))), 2) as tf.Scalar;
    },
  });
  saveWeights(join(dir, 'text_encoder.bin'), text.export());
  saveWeights(join(dir, 'image_encoder.bin'), image.export());
  const heldOut = retrievalAccuracy(model, (await ctx.data()).heldOut);
  ctx.log(`clip: held-out zero-shot retrieval ${(heldOut.accuracy * 100).toFixed(1)}% (chance ${(heldOut.chance * 100).toFixed(1)}%, ${heldOut.candidates} captions)`);
  [text, image, temp].forEach((s) => s.dispose());
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss, retrieval: heldOut };
}
