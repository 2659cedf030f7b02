import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate, upscaleImage } from '../../models/pipeline/generate.ts';
import type { Tensor } from '../../models/pipeline/runtime.ts';
import { batchToImages, imagesToBatch } from '../../models/pipeline/layout.ts';
import { downscale, resizeBicubic, type FloatImage } from '../../models/image.ts';
import { writeAtomic } from '../checkpoint.ts';
import type { RunContext, StageSummary } from '../context.ts';
import { encodePng } from '../../node/png.ts';
import {
  caption,
  colourSwapped,
  compositionByObjects,
  isHeldOutCombination,
  parseCaption,
  SCENE_FAILURES,
  type SceneScore,
  scoreScene,
  type ShapeScene,
} from '../data/shapes.ts';
import type { SplitData } from '../data/preset-data.ts';
import type { Preset } from '../presets.ts';
import { openBundle, type NodeBundle } from '../../node/bundle.ts';
import { frechetDistance } from '../report/frechet.ts';
import { pixelRetrieval } from '../report/pixel-retrieval.ts';
import { enlarge, imageGrid } from '../report/grid.ts';
import { seriesChart, type Series } from '../report/plot.ts';
import { SAMPLER_NAMES } from '../../models/diffusion/samplers/types.ts';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

function psnr(a: FloatImage, b: FloatImage): number {
  let se = 0;
  a.data.forEach((v, i) => (se += (Math.max(-1, Math.min(1, v)) - b.data[i]) ** 2));
  return 10 * Math.log10(4 / (se / a.data.length));
}

export interface EvalOptions {
  bundle: NodeBundle;
  prompts: string[];
  real: FloatImage[];
  /** Training captions, for the sample grid beside the held-out ones. */
  trainPrompts: string[];
  trainReal: FloatImage[];
  scenes?: ShapeScene[];
  /** Synthetic scenes made of attribute combinations never trained on, scored separately. */
  combinations?: { prompts: string[]; scenes: ShapeScene[]; real: FloatImage[] };
  guidanceScales: number[];
  steps: number;
  seed: number;
  outDir: string;
  highRes?: FloatImage[];
  /** The pixel-space judge (emoji): every real image with its caption, and which of them to query. */
  pixelJudge?: PixelJudgeSet;
  log: (line: string) => void;
}

export interface PixelJudgeSet {
  gallery: { image: FloatImage; caption: string }[];
  /** Gallery indices of training captions (4 seeds each) and held-out captions (2 seeds each). */
  train: number[];
  heldOut: number[];
}

const TRAIN_SEEDS = 4;
const HELD_OUT_SEEDS = 2;

/** A fixed derangement (rotation by half), so every caption is paired with another item's image. */
const shuffled = <T>(xs: T[]): T[] => xs.map((_, i) => xs[(i + Math.floor(xs.length / 2)) % xs.length]);
const concat = (a: Float32Array, b: Float32Array) => Float32Array.from([...a, ...b]);
/** The four quadrants of a square image, each half its size. */
const quadrants = (im: FloatImage): FloatImage[] => {
  const h = im.width / 2;
  return [0, 1, 2, 3].map((q) => {
    const data = new Float32Array(h * h * 3);
    const [ox, oy] = [(q % 2) * h, Math.floor(q / 2) * h];
    for (let y = 0; y < h; y++) data.set(im.data.subarray(((oy + y) * im.width + ox) * 3, ((oy + y) * im.width + ox + h) * 3), y * h * 3);
    return { width: h, height: h, data };
  });
};
const SAMPLER_STEPS = [4, 8, 16, 32];
/** Upscaler sampler steps compared in the report, and at most how many held-out 2× images (one per prompt) it is scored on. */
const UPSCALER_STEPS = [1, 2, 4, 8];
const UPSCALER_IMAGES = 64;

/**
 * Generate for held-out captions at several guidance scales with the exported bundle (onnxruntime-node),
 * then score: CLIP score (our CLIP) against the real images' own and against shuffled captions (chance),
 * Fréchet distance on CLIP image features and on joint image+caption features (whose baseline, real
 * images with shuffled captions, measures what prompt-following is worth), and for synthetic shapes the
 * prompt accuracy against the generator's ground truth. Writes the report's pictures to `outDir`.
 */
export async function evaluateBundle(o: EvalOptions): Promise<Record<string, unknown>> {
  const { bundle } = o;
  const runtime = await bundle.runtime();
  const text = await bundle.encodeText(o.prompts);
  const empty = await bundle.encodeText(o.prompts.map(() => ''));
  const realEmbeds = await bundle.embedImages(imagesToBatch(o.real));
  const clipScore = (images: Float32Array[], texts: Float32Array[]) => mean(images.map((e, i) => dot(e, texts[i])));
  const joint = (images: Float32Array[], texts: Float32Array[]) => images.map((e, i) => concat(e, texts[i]));
  const realJoint = joint(realEmbeds, text.embeds);
  const realClip = clipScore(realEmbeds, text.embeds);
  const perItem = text.hidden.data.length / o.prompts.length;
  const generateFor = async (
    { cond, uncond }: { cond: Tensor; uncond: Tensor },
    options: { guidance?: number; steps?: number; sampler?: string; seed: number },
  ) => {
    const n = cond.dims[0];
    const images: FloatImage[] = [];
    const chunk = 16;
    const per = cond.data.length / n;
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      const slice = (t: Tensor) => ({ data: t.data.slice(i * per, (i + m) * per), dims: [m, ...t.dims.slice(1)] });
      const out = await generate(runtime, bundle.manifest, {
        ...options,
        cond: slice(cond),
        uncond: slice(uncond),
        seed: options.seed + i,
      });
      images.push(...batchToImages(out.data, out.dims));
    }
    return images;
  };
  /** Prompts against the empty prompt's states as unconditional, as the page and the CLI draw them. */
  const promptStates = async (prompts: string[]) => ({
    cond: (await bundle.encodeText(prompts)).hidden,
    uncond: (await bundle.encodeText(prompts.map(() => ''))).hidden,
  });
  const drawPrompts = async (prompts: string[], options: Parameters<typeof generateFor>[1]) =>
    generateFor(await promptStates(prompts), options);
  // Encoded once: the same prompts are drawn at every guidance scale.
  const combinations = o.combinations && { scenes: o.combinations.scenes, states: await promptStates(o.combinations.prompts) };
  const sweep = [];
  const gridRows: FloatImage[] = [];
  const defaultGuidance = bundle.manifest.diffusion.defaults.guidance;
  // The default is always swept: the headline accuracy and the failure breakdown are read off its row.
  const guidanceScales = [...new Set([...o.guidanceScales, defaultGuidance])].sort((a, b) => a - b);
  // The detector's verdicts at the default guidance, for the failure breakdown.
  const atDefault: { heldOut?: SceneScore[]; heldOutCombinations?: SceneScore[] } = {};
  for (const guidance of guidanceScales) {
    const images = await generateFor({ cond: text.hidden, uncond: empty.hidden }, { guidance, steps: o.steps, seed: o.seed });
    const embeds = await bundle.embedImages(imagesToBatch(images));
    const row: Record<string, number> = {
      guidance,
      clipScore: clipScore(embeds, text.embeds),
      clipScoreRatio: clipScore(embeds, text.embeds) / realClip,
      clipScoreShuffledCaptions: clipScore(embeds, shuffled(text.embeds)),
      frechetClip: frechetDistance(embeds, realEmbeds),
      frechetJoint: frechetDistance(joint(embeds, text.embeds), realJoint),
    };
    if (o.scenes) {
      const scores = images.map((im, i) => scoreScene(im, o.scenes![i]));
      if (guidance === defaultGuidance) atDefault.heldOut = scores;
      row.colourShapeAccuracy = mean(scores.map((s) => +s.colourShape));
      row.positionAccuracy = mean(scores.map((s) => +(s.colourShape && s.position)));
      const byObjects = compositionByObjects(scores, o.scenes);
      row.accuracy = byObjects.accuracy;
      if (byObjects.oneObject !== undefined) row.oneObjectAccuracy = byObjects.oneObject;
      if (byObjects.twoObjects !== undefined) row.twoObjectAccuracy = byObjects.twoObjects;
    }
    if (combinations) {
      const generated = await generateFor(combinations.states, { guidance, steps: o.steps, seed: o.seed });
      const scores = generated.map((im, i) => scoreScene(im, combinations.scenes[i]));
      if (guidance === defaultGuidance) atDefault.heldOutCombinations = scores;
      row.heldOutCombinationsAccuracy = mean(scores.map((r) => +r.all));
    }
    sweep.push(row);
    gridRows.push(...images.slice(0, 8));
    o.log(
      `eval: guidance ${guidance}: ${Object.entries(row)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ')}`,
    );
  }
  const zoom = Math.max(1, Math.round(64 / o.real[0].width));
  const save = (name: string, images: FloatImage[], columns: number) =>
    writeAtomic(
      join(o.outDir, name),
      encodePng(
        imageGrid(
          images.map((im) => enlarge(im, zoom)),
          columns,
        ),
      ),
    );
  save('guidance-sweep.png', gridRows, 8);
  // The curve: CLIP-score ratio (blue) and, for shapes, full-scene accuracy (red: colour, shape, size, relation) and colour+shape+position (green) against guidance; grey line at 0.9.
  const curves: Series[] = [{ values: sweep.map((r) => r.clipScoreRatio), rgb: [0.1, 0.3, 0.9] }];
  if (o.scenes)
    curves.push(
      { values: sweep.map((r) => r.accuracy), rgb: [0.85, 0.15, 0.1] },
      { values: sweep.map((r) => r.positionAccuracy), rgb: [0.1, 0.6, 0.2] },
    );
  writeAtomic(join(o.outDir, 'guidance-curve.png'), encodePng(seriesChart(guidanceScales, curves, 0.9)));

  // Samples at the bundle's defaults: held-out captions (real above generated), then training captions.
  const fixed = [...o.prompts.slice(0, 8), ...o.trainPrompts.slice(0, 8)];
  const fixedImages = await drawPrompts(fixed, { seed: o.seed });
  save('samples.png', [...o.real.slice(0, 8), ...fixedImages.slice(0, 8), ...o.trainReal.slice(0, 8), ...fixedImages.slice(8)], 8);

  // One seed per prompt, every sampler at 4–32 steps: rows are samplers, columns steps (two prompts side by side).
  const dims = [2, ...text.hidden.dims.slice(1)];
  const pair = {
    cond: { data: text.hidden.data.slice(0, 2 * perItem), dims },
    uncond: { data: empty.hidden.data.slice(0, 2 * perItem), dims },
  };
  const samplerCells: FloatImage[] = [];
  for (const sampler of SAMPLER_NAMES) {
    const row: FloatImage[][] = [];
    for (const steps of SAMPLER_STEPS) row.push(await generateFor(pair, { sampler, steps, seed: o.seed }));
    samplerCells.push(...row.map((r) => r[0]), ...row.map((r) => r[1]));
  }
  save('samplers.png', samplerCells, 2 * SAMPLER_STEPS.length);

  // The page's example prompts at the defaults, one seed each: what a visitor gets by clicking them, and, where
  // the caption grammar has ground truth (shapes), the detector's verdict on each.
  const examples = bundle.manifest.examples ?? [];
  let examplesReport: { prompts: string[]; right?: boolean[] } | undefined;
  if (examples.length > 0) {
    const images = await drawPrompts(examples, { seed: o.seed });
    save('examples.png', images, 10);
    const scenes = examples.map(parseCaption);
    examplesReport = {
      prompts: examples,
      right: scenes.every((s) => s !== undefined) ? images.map((im, i) => scoreScene(im, scenes[i]!).all) : undefined,
    };
    const right = examplesReport.right;
    o.log(
      `eval: ${examples.length} example prompts → examples.png${right ? `; ${right.filter(Boolean).length} fully right by the detector` : ''}`,
    );
  }

  /**
   * The detector on real scenes through the bundle's VAE alone (img2img at strength 0: encode, decode): the most
   * a generated image can score, whatever the U-Net does.
   */
  const throughVae = async (real: FloatImage[], scenes: ShapeScene[]) => {
    const { hidden } = await bundle.encodeText(['']);
    let right = 0;
    for (const [i, im] of real.entries()) {
      const out = await generate(runtime, bundle.manifest, {
        cond: hidden,
        uncond: hidden,
        seed: o.seed,
        init: { image: imagesToBatch([im]), strength: 0 },
      });
      right += +scoreScene(batchToImages(out.data, out.dims)[0], scenes[i]).all;
    }
    return right / real.length;
  };
  const half = Math.floor(realEmbeds.length / 2);
  const composition = o.scenes
    ? {
        ...compositionReport(o, sweep, defaultGuidance),
        vaeCeiling: {
          heldOut: await throughVae(o.real, o.scenes),
          heldOutCombinations: o.combinations && (await throughVae(o.combinations.real, o.combinations.scenes)),
        },
        failures: {
          heldOut: failureCounts(atDefault.heldOut),
          heldOutCombinations: failureCounts(atDefault.heldOutCombinations),
        },
        colourSwapTwins: await colourSwapTwins(
          o.scenes,
          (scenes) => drawPrompts(scenes.map(caption), { seed: o.seed }),
          (originals, twins) => save('twins.png', [...originals, ...twins], originals.length),
        ),
      }
    : undefined;
  if (composition) {
    const t = composition.colourSwapTwins;
    o.log(
      `eval: the detector on real held-out scenes through the VAE alone: ${composition.vaeCeiling.heldOut.toFixed(3)} (the most a generated scene can score)`,
    );
    o.log(
      `eval: colour-swap twins: ${t.bothRight} of ${t.pairs} pairs right both ways (originals ${t.originalRight}, twins ${t.twinRight}); held-out failures at guidance ${defaultGuidance}: ${JSON.stringify(composition.failures.heldOut)}`,
    );
  }
  const report: Record<string, unknown> = {
    composition,
    prompts: o.prompts.length,
    steps: o.steps,
    realClipScore: realClip,
    realClipScoreShuffledCaptions: clipScore(realEmbeds, shuffled(text.embeds)),
    // Floors and baselines for the Fréchet figures: two disjoint halves of the real set, and the real
    // images paired with shuffled captions (right images, wrong prompts).
    realSplitFrechet: half >= 2 ? frechetDistance(realEmbeds.slice(0, half), realEmbeds.slice(half)) : undefined,
    frechetJointShuffledCaptions: frechetDistance(joint(realEmbeds, shuffled(text.embeds)), realJoint),
    sweep,
    samplerComparison: { samplers: SAMPLER_NAMES, steps: SAMPLER_STEPS, prompts: o.prompts.slice(0, 2) },
    samplePrompts: { heldOut: o.prompts.slice(0, 8), train: o.trainPrompts.slice(0, 8) },
    examples: examplesReport,
  };

  if (o.highRes && runtime.upscale && bundle.manifest.upscale) {
    const hi = o.highRes.slice(0, Math.min(UPSCALER_IMAGES, o.prompts.length));
    const low = hi.map((h) => downscale(h, 2));
    const upscale = async (images: FloatImage[], steps?: number) => {
      const out = await upscaleImage(runtime, bundle.manifest, imagesToBatch(images), o.seed, { steps });
      return batchToImages(out.data, out.dims);
    };
    const bicubic2x = (images: FloatImage[]) => images.map((l) => resizeBicubic(l, l.width * 2, l.height * 2));
    const bicubic = bicubic2x(low);
    // CLIP-feature distance where the detail is: our encoder on the four base-size quadrants of each image.
    const quadEmbeds = async (ims: FloatImage[]) => bundle.embedImages(imagesToBatch(ims.flatMap(quadrants)));
    const truth = await quadEmbeds(hi);
    const score = async (ims: FloatImage[]) => ({
      psnr: mean(ims.map((u, i) => psnr(u, hi[i]))),
      clipFeatureDistance: mean((await quadEmbeds(ims)).map((e, i) => 1 - dot(e, truth[i]))),
    });
    const steps = bundle.manifest.upscale.steps;
    const up = await upscale(low, steps);
    const bySteps = [];
    for (const n of [...new Set([...UPSCALER_STEPS, steps])].sort((a, b) => a - b))
      bySteps.push({ steps: n, ...(await score(n === steps ? up : await upscale(low, n))) });
    const { psnr: upPsnr, clipFeatureDistance } = bySteps.find((r) => r.steps === steps)!;
    const base = await score(bicubic);
    const upscaler: Record<string, unknown> = {
      images: hi.length,
      steps,
      psnr: upPsnr,
      clipFeatureDistance,
      bicubicPsnr: base.psnr,
      bicubicClipFeatureDistance: base.clipFeatureDistance,
      bySteps,
    };
    if (runtime.encode) {
      // What the base model really hands over: the VAE's reconstruction of the real base-size render.
      const batch = imagesToBatch(o.real.slice(0, hi.length));
      const decoded = await runtime.decode(await runtime.encode(batch));
      const lowDecoded = batchToImages(decoded.data, decoded.dims).map((im) => ({
        ...im,
        data: im.data.map((v) => Math.max(-1, Math.min(1, v))),
      }));
      const [fromDecoded, bicubicDecoded] = [await score(await upscale(lowDecoded, steps)), await score(bicubic2x(lowDecoded))];
      upscaler.onDecoded = {
        psnr: fromDecoded.psnr,
        bicubicPsnr: bicubicDecoded.psnr,
        clipFeatureDistance: fromDecoded.clipFeatureDistance,
        bicubicClipFeatureDistance: bicubicDecoded.clipFeatureDistance,
      };
      o.log(`eval: upscaler on VAE-decoded inputs: PSNR ${fromDecoded.psnr.toFixed(2)} dB vs bicubic ${bicubicDecoded.psnr.toFixed(2)} dB`);
    }
    report.upscaler = upscaler;
    // Enlarged 2× so the edges the upscaler has to get right are visible on screen.
    const shown = [...hi.slice(0, 6), ...bicubic.slice(0, 6), ...up.slice(0, 6)].map((im) => enlarge(im, 2));
    writeAtomic(join(o.outDir, 'upscaler-vs-bicubic.png'), encodePng(imageGrid(shown, 6)));
    // What a user sees: generated samples (held-out captions, defaults), bicubic above the upscaler.
    const generated = fixedImages.slice(0, 6);
    const generatedShown = [...bicubic2x(generated), ...(await upscale(generated))].map((im) => enlarge(im, 2));
    writeAtomic(join(o.outDir, 'upscaled-samples.png'), encodePng(imageGrid(generatedShown, 6)));
    o.log(
      `eval: upscaler PSNR ${upPsnr.toFixed(2)} dB vs bicubic ${base.psnr.toFixed(2)} dB; CLIP-feature distance ${clipFeatureDistance.toExponential(2)} vs ${base.clipFeatureDistance.toExponential(2)}`,
    );
  }
  if (o.pixelJudge) {
    const { retrieval, vae } = await pixelJudgeReport(o, runtime, (prompts, seed) => drawPrompts(prompts, { seed }));
    report.retrieval = retrieval;
    report.vae = vae;
  }
  return report;
}

/**
 * Prompt following on synthetic scenes, judged by the ground-truth detector: a scene counts only if every
 * object's colour, shape and size and the relation are right. The detector's own accuracy on the real
 * renders says how far its verdicts can be trusted.
 */
function compositionReport(o: EvalOptions, sweep: Record<string, number>[], defaultGuidance: number) {
  // The sweep always holds the default (see evaluateBundle).
  const at = sweep.find((r) => r.guidance === defaultGuidance)!;
  const onReal = (real: FloatImage[], scenes: ShapeScene[]) => mean(real.map((im, i) => +scoreScene(im, scenes[i]).all));
  return {
    guidance: at.guidance,
    accuracy: at.accuracy,
    scenes: o.scenes!.length,
    twoObjectScenes: o.scenes!.filter((s) => s.objects.length === 2).length,
    byObjects: { oneObject: at.oneObjectAccuracy, twoObjects: at.twoObjectAccuracy },
    heldOutCombinations: o.combinations ? { accuracy: at.heldOutCombinationsAccuracy, scenes: o.combinations.scenes.length } : undefined,
    detectorOnReal: {
      heldOut: onReal(o.real, o.scenes!),
      heldOutCombinations: o.combinations ? onReal(o.combinations.real, o.combinations.scenes) : undefined,
    },
    byGuidance: sweep.map((r) => ({
      guidance: r.guidance,
      accuracy: r.accuracy,
      oneObject: r.oneObjectAccuracy,
      twoObjects: r.twoObjectAccuracy,
      heldOutCombinations: r.heldOutCombinationsAccuracy,
    })),
  };
}

/** How many scenes failed in each way (scenes[].failure); undefined where that set was not generated at the default guidance. */
function failureCounts(scores?: SceneScore[]) {
  return scores && Object.fromEntries(SCENE_FAILURES.map((f) => [f, scores.filter((s) => s.failure === f).length]));
}

/**
 * The binding test (twins.png: originals above their twins): each held-out two-object scene with two colours beside
 * its twin with the colours exchanged, same seed, at the default guidance. A model that draws both right knows which
 * colour belongs to which object; one that draws the same picture for both is right at most once per pair. Twins that
 * would make a held-out combination are left out (that would test generalisation, not binding).
 */
async function colourSwapTwins(
  scenes: ShapeScene[],
  draw: (scenes: ShapeScene[]) => Promise<FloatImage[]>,
  show: (originals: FloatImage[], twins: FloatImage[]) => void,
) {
  const originals = scenes.filter(
    (s) => s.objects.length === 2 && s.objects[0].colour !== s.objects[1].colour && !isHeldOutCombination(colourSwapped(s)),
  );
  // One-object presets (shapes-tiny) have no pairs: nothing to draw, and an empty grid is no picture.
  if (originals.length === 0) return { pairs: 0, originalRight: 0, twinRight: 0, bothRight: 0 };
  const twins = originals.map(colourSwapped);
  const [a, b] = [await draw(originals), await draw(twins)];
  const right = (images: FloatImage[], of: ShapeScene[]) => images.map((im, i) => scoreScene(im, of[i]).all);
  const [ra, rb] = [right(a, originals), right(b, twins)];
  show(a.slice(0, 10), b.slice(0, 10));
  return {
    pairs: originals.length,
    originalRight: ra.filter(Boolean).length,
    twinRight: rb.filter(Boolean).length,
    bothRight: ra.filter((r, i) => r && rb[i]).length,
  };
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];

/**
 * Generated images judged by nearest real images in pixel space (no learned network), next to the VAE's
 * reconstructions of the real images (the ceiling any U-Net on this VAE can reach) and real images under a
 * fixed derangement of captions (chance). Also the VAE's reconstruction PSNR and colour shift on held-out
 * images, and a contact sheet: real | VAE | generated (2 seeds) for 16 training and 16 held-out captions.
 */
async function pixelJudgeReport(
  o: EvalOptions,
  runtime: Awaited<ReturnType<NodeBundle['runtime']>>,
  generateImages: (prompts: string[], seed: number) => Promise<FloatImage[]>,
) {
  const set = o.pixelJudge!;
  const judge = pixelRetrieval(set.gallery);
  const queriesFor = async (own: number[], seeds: number) => {
    const prompts = own.map((i) => set.gallery[i].caption);
    const out: { image: FloatImage; own: number }[] = [];
    for (let k = 0; k < seeds; k++)
      (await generateImages(prompts, o.seed + 1000 * k)).forEach((image, j) => out.push({ image, own: own[j] }));
    return out;
  };
  const reconstruct = async (own: number[]) => {
    const out: FloatImage[] = [];
    for (let i = 0; i < own.length; i += 32) {
      const batch = imagesToBatch(own.slice(i, i + 32).map((j) => set.gallery[j].image));
      const decoded = await runtime.decode(await runtime.encode!(batch));
      out.push(...batchToImages(decoded.data, decoded.dims));
    }
    return out;
  };
  const train = await queriesFor(set.train, TRAIN_SEEDS);
  const heldOut = await queriesFor(set.heldOut, HELD_OUT_SEEDS);
  const trainRecon = await reconstruct(set.train);
  const heldOutRecon = await reconstruct(set.heldOut);
  const half = Math.floor(set.train.length / 2);
  const retrieval = {
    train: judge.score(train),
    heldOut: judge.score(heldOut),
    ceiling: judge.score(trainRecon.map((image, k) => ({ image, own: set.train[k] }))),
    ceilingHeldOut: judge.score(heldOutRecon.map((image, k) => ({ image, own: set.heldOut[k] }))),
    chance: judge.score(set.train.map((own, k) => ({ image: set.gallery[set.train[(k + half) % set.train.length]].image, own }))),
  };
  const clamp = (v: number) => Math.max(-1, Math.min(1, v));
  const psnrs = heldOutRecon.map((r, k) => psnr(r, set.gallery[set.heldOut[k]].image));
  const channelMeanError = [0, 1, 2].map((c) => {
    let sum = 0;
    let count = 0;
    heldOutRecon.forEach((r, k) => {
      const real = set.gallery[set.heldOut[k]].image.data;
      for (let i = c; i < real.length; i += 3, count++) sum += clamp(r.data[i]) - real[i];
    });
    return (sum / count) * 127.5; // in 0–255 units
  });
  const vae = { images: psnrs.length, psnrMean: mean(psnrs), psnrP10: percentile(psnrs, 0.1), channelMeanError };
  for (const [name, r] of Object.entries(retrieval))
    o.log(
      `eval: pixel retrieval ${name}: top-1 ${(100 * r.top1).toFixed(1)} %, top-5 ${(100 * r.top5).toFixed(1)} %, base match ${(100 * r.baseMatch).toFixed(1)} %, median rank ${r.medianRank}`,
    );
  o.log(
    `eval: VAE on ${vae.images} held-out images: PSNR ${vae.psnrMean.toFixed(2)} dB (10th percentile ${vae.psnrP10.toFixed(2)}), channel mean error ${channelMeanError.map((e) => e.toFixed(2)).join(' / ')} /255`,
  );

  // Contact sheet: per caption real | VAE | seed 1 | seed 2, two captions a row; training captions first.
  const rows = (own: number[], recon: FloatImage[], queries: { image: FloatImage }[], n: number) =>
    own.slice(0, 16).flatMap((i, k) => [set.gallery[i].image, recon[k], queries[k].image, queries[n + k].image]);
  const sheet = [...rows(set.train, trainRecon, train, set.train.length), ...rows(set.heldOut, heldOutRecon, heldOut, set.heldOut.length)];
  writeAtomic(
    join(o.outDir, 'contact-sheet.png'),
    encodePng(
      imageGrid(
        sheet.map((im) => enlarge(im, Math.max(1, Math.round(64 / im.width)))),
        8,
      ),
    ),
  );
  return { retrieval, vae };
}

/**
 * Evaluate a bundle on the held-out part of its preset's data (the same split training used); `data`
 * loads that split at a size (a run's memoised loader, or loadPresetData for a shipped bundle).
 */
export async function evaluateOnPresetData(
  bundle: NodeBundle,
  preset: Preset,
  seed: number,
  data: (size: number) => Promise<SplitData>,
  o: { outDir: string; prompts?: number; steps?: number; log: (line: string) => void },
): Promise<Record<string, unknown>> {
  const { train, heldOut: held, heldOutCombinations } = await data(preset.imageSize);
  const n = Math.min(o.prompts ?? preset.eval.prompts, held.samples.length);
  return evaluateBundle({
    bundle,
    prompts: held.samples.slice(0, n).map((s) => s.caption),
    real: held.samples.slice(0, n).map((s) => s.image),
    trainPrompts: train.samples.slice(0, 8).map((s) => s.caption),
    trainReal: train.samples.slice(0, 8).map((s) => s.image),
    scenes: held.scenes?.slice(0, n),
    combinations: heldOutCombinations
      ? {
          prompts: heldOutCombinations.samples.slice(0, n).map((s) => s.caption),
          scenes: heldOutCombinations.scenes.slice(0, n),
          real: heldOutCombinations.samples.slice(0, n).map((s) => s.image),
        }
      : undefined,
    guidanceScales: preset.eval.guidanceScales,
    steps: o.steps ?? preset.eval.steps,
    seed,
    outDir: o.outDir,
    highRes: preset.upscaler ? (await data(2 * preset.imageSize)).heldOut.samples.map((s) => s.image) : undefined,
    pixelJudge: preset.data.kind === 'emoji' ? pixelJudgeSet(train.samples, held.samples.slice(0, n)) : undefined,
    log: o.log,
  });
}

/** Every real image as the gallery; 128 training captions spread evenly over the split, and the held-out captions. */
function pixelJudgeSet(train: { image: FloatImage; caption: string }[], heldOut: { image: FloatImage; caption: string }[]): PixelJudgeSet {
  const picks = Math.min(128, train.length);
  return {
    gallery: [...train, ...heldOut],
    train: Array.from({ length: picks }, (_, i) => Math.floor((i * train.length) / picks)),
    heldOut: heldOut.map((_, i) => train.length + i),
  };
}

export async function evalStage(ctx: RunContext): Promise<StageSummary> {
  const t0 = Date.now();
  const dir = ctx.stageDir('eval');
  const bundleDir = join(ctx.dir, 'bundle');
  const report = await evaluateOnPresetData(await openBundle(bundleDir), ctx.preset, ctx.seed, (size) => ctx.data(size), {
    outDir: dir,
    log: ctx.log,
  });
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
  // Metrics go into the manifest; it lists no hash of itself, so the bundle's files stay valid.
  const manifestPath = join(bundleDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.metrics = report;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000 };
}
