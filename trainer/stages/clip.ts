import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { mixSeed } from '../../models/diffusion/rng.ts';
import { imageEncoder } from '../../models/nn/image-encoder.ts';
import { textEncoder } from '../../models/nn/text-encoder.ts';
import { imageBatch, imageData, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import { trainLoop } from '../loop.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore, storeOf } from '../tfjs/params.ts';
import type { Ops } from '../../models/nn/ops.ts';
import type { Objective } from '../objective.ts';
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

/** Rows scaled to unit L2 norm (ε-guarded), on any back end. */
function normalizeRows<T>(ops: Ops<T>, x: T): T {
  return ops.div(x, ops.addScalar(ops.sqrt(ops.reshape(ops.sum(ops.mul(x, x), -1), [1])), 1e-6));
}

/** Symmetric InfoNCE with a learned temperature (capped at 100); captions repeated in a batch count as joint positives. */
export function clipObjective(ctx: RunContext, ds: Dataset): Objective {
  const cfg = ctx.configs();
  const b = ctx.preset.stages.clip.batchSize;
  const s = ctx.preset.imageSize;
  const tok = ctx.tokenizer();
  return {
    name: 'clip',
    inputs: {
      ids: { shape: [b, tok.maxLength], dtype: 'int32' },
      images: { shape: [b, s, s, 3], dtype: 'float32', image: true },
      targets: { shape: [b, b], dtype: 'float32' },
    },
    loss(net, x) {
      const image = normalizeRows(net('image_encoder'), imageEncoder(net('image_encoder'), cfg.imageEncoder, x.images));
      const text = normalizeRows(net('text_encoder'), textEncoder(net('text_encoder'), cfg.textEncoder, x.ids).pooled);
      const ops = net('clip');
      const logitScale = ops.param('logit_scale', [], { kind: 'fill', value: Math.log(1 / 0.07) });
      const logits = ops.mul(ops.matmul(image, text, true), ops.exp(ops.clip(logitScale, -100, Math.log(100))));
      const ce = (l: typeof logits) => ops.scale(ops.meanAll(ops.sum(ops.mul(x.targets, ops.logSoftmax(l)), 1)), -1);
      return ops.scale(ops.add(ce(logits), ce(ops.transpose(logits, [1, 0]))), 0.5);
    },
    batch(step) {
      const idx = batchIndices(ds.samples.length, b, mixSeed(ctx.seed, 1), step);
      const caps = idx.map((i) => ds.samples[i].caption);
      const targets = new Float32Array(b * b);
      caps.forEach((a, i) => {
        const same = caps.filter((c) => c === a).length;
        caps.forEach((c, j) => (targets[i * b + j] = c === a ? 1 / same : 0));
      });
      return { ids: Int32Array.from(tok.encodeBatch(caps)), images: imageData(ds, idx), targets };
    },
  };
}

export async function clipStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('clip');
  const ds = (await ctx.data()).train;
  const engine = await ctx.engine(clipObjective(ctx, ds), { weightDecay: 0.01 });
  const result = await trainLoop({ ...ctx.loopOptions('clip', ctx.preset.stages.clip), engine });
  const [textWeights, imageWeights] = [engine.weights('text_encoder', 'param'), engine.weights('image_encoder', 'param')];
  engine.dispose();
  saveWeights(join(dir, 'text_encoder.bin'), textWeights);
  saveWeights(join(dir, 'image_encoder.bin'), imageWeights);
  const model = clipModel(ctx, storeOf('text_encoder', textWeights), storeOf('image_encoder', imageWeights));
  const heldOut = retrievalAccuracy(model, (await ctx.data()).heldOut);
  ctx.log(`clip: held-out zero-shot retrieval ${(heldOut.accuracy * 100).toFixed(1)}% (chance ${(heldOut.chance * 100).toFixed(1)}%, ${heldOut.candidates} captions)`);
  [model.text, model.image].forEach((st) => st.dispose());
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss, retrieval: heldOut };
}
