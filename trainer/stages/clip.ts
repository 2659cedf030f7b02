import * as ort from 'onnxruntime-node';
import { GRAPHS } from '../../models/bundle/graphs.ts';
import { join } from 'node:path';
import { createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import { imageEncoder } from '../../models/nn/image-encoder.ts';
import type { Ops } from '../../models/nn/ops.ts';
import { textEncoder } from '../../models/nn/text-encoder.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import { exportImageEncoder, exportTextEncoder } from '../../models/onnx/export.ts';
import { nhwcToNchw } from '../../models/pipeline/layout.ts';
import { imageData, stackImages, type RunContext, type StageSummary } from '../context.ts';
import { batchIndices, type Dataset } from '../data/dataset.ts';
import { trainLoop } from '../loop.ts';
import type { Objective } from '../objective.ts';
import { idsTensor, inferenceSession } from '../ort/inference.ts';
import { saveWeights } from '../weights-io.ts';

/**
 * Zero-shot caption retrieval through the exported towers: for each image, the best-matching caption among
 * all distinct captions of the set. Returns accuracy and the chance level (1 / number of distinct captions).
 */
export async function retrievalAccuracy(
  ctx: RunContext,
  text: WeightMap,
  image: WeightMap,
  ds: Dataset,
): Promise<{ accuracy: number; chance: number; candidates: number }> {
  const cfg = ctx.configs();
  const captions = [...new Set(ds.samples.map((s) => s.caption))];
  const index = new Map(captions.map((c, i) => [c, i]));
  const [textSession, imageSession] = await Promise.all([
    inferenceSession(exportTextEncoder(cfg.textEncoder, text)),
    inferenceSession(exportImageEncoder(cfg.imageEncoder, image)),
  ]);
  const { textEncoder: te, imageEncoder: ie } = GRAPHS;
  const t = (
    await textSession.run({ [te.inputs.ids]: idsTensor(ctx.tokenizer().encodeBatch(captions), captions.length, cfg.textEncoder.maxLength) })
  )[te.outputs.pooled].data as Float32Array;
  const s = ds.imageSize;
  const n = ds.samples.length;
  const pixels = nhwcToNchw(
    imageData(
      ds,
      ds.samples.map((_, k) => k),
    ),
    [n, s, s, 3],
  );
  const i = (await imageSession.run({ [ie.inputs.pixels]: new ort.Tensor('float32', pixels, [n, 3, s, s]) }))[ie.outputs.embeds]
    .data as Float32Array;
  await Promise.all([textSession.release(), imageSession.release()]);
  const p = cfg.textEncoder.projectionDim;
  const norm = (v: Float32Array, k: number) => Math.hypot(...v.subarray(k * p, (k + 1) * p)) || 1;
  const textNorms = captions.map((_, c) => norm(t, c));
  let correct = 0;
  ds.samples.forEach((sample, k) => {
    let best = -1;
    let bestScore = -Infinity;
    for (let c = 0; c < captions.length; c++) {
      let dot = 0;
      for (let d = 0; d < p; d++) dot += i[k * p + d] * t[c * p + d];
      if (dot / textNorms[c] > bestScore) [best, bestScore] = [c, dot / textNorms[c]];
    }
    if (best === index.get(sample.caption)) correct++;
  });
  return { accuracy: correct / n, chance: 1 / captions.length, candidates: captions.length };
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
  const twins = ctx.preset.stages.clip.twins === true && ds.twin !== undefined;
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
      // With twins, the second half is the first half's hard negatives (an ordinary sample where one has none).
      const rand = createUniformRng(mixSeed(ctx.seed, 2, step));
      const half = Math.floor(b / 2);
      const samples = idx.map((i, k) => (twins && k >= half ? (ds.twin!(idx[k - half], rand) ?? ds.samples[i]) : ds.samples[i]));
      const caps = samples.map((sample) => sample.caption);
      const targets = new Float32Array(b * b);
      caps.forEach((a, i) => {
        const same = caps.filter((c) => c === a).length;
        caps.forEach((c, j) => (targets[i * b + j] = c === a ? 1 / same : 0));
      });
      return { ids: Int32Array.from(tok.encodeBatch(caps)), images: stackImages(samples, s), targets };
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
  const heldOut = await retrievalAccuracy(ctx, textWeights, imageWeights, (await ctx.data()).heldOut);
  ctx.log(
    `clip: held-out zero-shot retrieval ${(heldOut.accuracy * 100).toFixed(1)}% (chance ${(heldOut.chance * 100).toFixed(1)}%, ${heldOut.candidates} captions)`,
  );
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss, retrieval: heldOut };
}
