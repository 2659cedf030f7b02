import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate, upscaleImage, type Tensor } from '../../models/pipeline/generate.ts';
import { batchToImages, nhwcToNchw } from '../../models/pipeline/layout.ts';
import { downscale, resizeBicubic, type FloatImage } from '../../models/image.ts';
import { writeAtomic } from '../checkpoint.ts';
import type { RunContext, StageSummary } from '../context.ts';
import { encodePng } from '../data/png.ts';
import { scoreScene, type ShapeScene } from '../data/shapes.ts';
import { loadPresetData } from '../data/preset-data.ts';
import type { Preset } from '../presets.ts';
import { openBundle, type NodeBundle } from '../bundle-node.ts';
import { frechetDistance } from '../report/frechet.ts';
import { imageGrid } from '../report/grid.ts';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

function toBatch(images: FloatImage[]): Tensor {
  const { width: w, height: h } = images[0];
  const hwc = new Float32Array(images.length * w * h * 3);
  images.forEach((im, i) => hwc.set(im.data, i * w * h * 3));
  return { data: nhwcToNchw(hwc, [images.length, h, w, 3]), dims: [images.length, 3, h, w] };
}

function psnr(a: FloatImage, b: FloatImage): number {
  let se = 0;
  a.data.forEach((v, i) => (se += (Math.max(-1, Math.min(1, v)) - b.data[i]) ** 2));
  return 10 * Math.log10(4 / (se / a.data.length));
}

export interface EvalOptions {
  bundle: NodeBundle;
  prompts: string[];
  real: FloatImage[];
  scenes?: ShapeScene[];
  guidanceScales: number[];
  steps: number;
  seed: number;
  outDir: string;
  highRes?: FloatImage[];
  log: (line: string) => void;
}

/**
 * Generate for held-out captions at several guidance scales with the exported bundle (onnxruntime-node),
 * then score: CLIP score (our CLIP) vs the real images' own, Fréchet distance on CLIP image features,
 * and for synthetic shapes the prompt accuracy against the generator's ground truth.
 */
export async function evaluateBundle(o: EvalOptions): Promise<Record<string, unknown>> {
  const { bundle } = o;
  const runtime = await bundle.runtime();
  const text = await bundle.encodeText(o.prompts);
  const empty = await bundle.encodeText(o.prompts.map(() => ''));
  const realEmbeds = await bundle.embedImages(toBatch(o.real));
  const realClip = mean(realEmbeds.map((e, i) => dot(e, text.embeds[i])));
  const perItem = text.hidden.data.length / o.prompts.length;
  const sweep = [];
  const gridRows: FloatImage[] = [];
  const chunk = 16;
  for (const guidance of o.guidanceScales) {
    const images: FloatImage[] = [];
    for (let i = 0; i < o.prompts.length; i += chunk) {
      const n = Math.min(chunk, o.prompts.length - i);
      const slice = (t: Tensor) => ({ data: t.data.slice(i * perItem, (i + n) * perItem), dims: [n, ...t.dims.slice(1)] });
      const out = await generate(runtime, bundle.manifest, { cond: slice(text.hidden), uncond: slice(empty.hidden), guidance, steps: o.steps, seed: o.seed + i });
      images.push(...batchToImages(out.data, out.dims));
    }
    const embeds = await bundle.embedImages(toBatch(images));
    const clipScore = mean(embeds.map((e, i) => dot(e, text.embeds[i])));
    const row: Record<string, number> = { guidance, clipScore, clipScoreRatio: clipScore / realClip, frechetClip: frechetDistance(embeds, realEmbeds) };
    if (o.scenes) {
      const scores = images.map((im, i) => scoreScene(im, o.scenes![i]));
      row.colourShapeAccuracy = mean(scores.map((s) => +s.colourShape));
      row.positionAccuracy = mean(scores.map((s) => +(s.colourShape && s.position)));
    }
    sweep.push(row);
    gridRows.push(...images.slice(0, 8));
    o.log(`eval: guidance ${guidance}: ${Object.entries(row).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
  }
  writeAtomic(join(o.outDir, 'guidance-sweep.png'), encodePng(imageGrid(gridRows, 8)));
  // A reference for the Fréchet distance: real images against their own captions' order shuffled is still
  // the same image set, so compare the real set against a disjoint half of itself instead.
  const half = Math.floor(realEmbeds.length / 2);
  const realSplitFrechet = half >= 2 ? frechetDistance(realEmbeds.slice(0, half), realEmbeds.slice(half)) : undefined;
  const report: Record<string, unknown> = { prompts: o.prompts.length, steps: o.steps, realClipScore: realClip, realSplitFrechet, sweep };

  if (o.highRes && runtime.upscale && bundle.manifest.upscale) {
    const hi = o.highRes.slice(0, 16);
    const low = hi.map((h) => downscale(h, 2));
    const up = batchToImages((await upscaleImage(runtime, bundle.manifest, toBatch(low), o.seed)).data, [hi.length, 3, hi[0].height, hi[0].width]);
    const bicubic = low.map((l) => resizeBicubic(l, l.width * 2, l.height * 2));
    report.upscaler = { psnr: mean(up.map((u, i) => psnr(u, hi[i]))), bicubicPsnr: mean(bicubic.map((b, i) => psnr(b, hi[i]))), images: hi.length };
    writeAtomic(join(o.outDir, 'upscaler-vs-bicubic.png'), encodePng(imageGrid([...hi.slice(0, 6), ...bicubic.slice(0, 6), ...up.slice(0, 6)], 6)));
    o.log(`eval: upscaler PSNR ${(report.upscaler as { psnr: number }).psnr.toFixed(2)} dB vs bicubic ${(report.upscaler as { bicubicPsnr: number }).bicubicPsnr.toFixed(2)} dB`);
  }
  return report;
}

/** Evaluate a bundle on the held-out part of its preset's data (the same split training used). */
export async function evaluateOnPresetData(
  bundle: NodeBundle,
  preset: Preset,
  seed: number,
  o: { outDir: string; prompts?: number; steps?: number; log: (line: string) => void },
): Promise<Record<string, unknown>> {
  const held = (await loadPresetData(preset.data, seed, preset.imageSize)).heldOut;
  const n = Math.min(o.prompts ?? preset.eval.prompts, held.samples.length);
  return evaluateBundle({
    bundle,
    prompts: held.samples.slice(0, n).map((s) => s.caption),
    real: held.samples.slice(0, n).map((s) => s.image),
    scenes: held.scenes?.slice(0, n),
    guidanceScales: preset.eval.guidanceScales,
    steps: o.steps ?? preset.eval.steps,
    seed,
    outDir: o.outDir,
    highRes: preset.upscaler ? (await loadPresetData(preset.data, seed, 2 * preset.imageSize)).heldOut.samples.map((s) => s.image) : undefined,
    log: o.log,
  });
}

export async function evalStage(ctx: RunContext): Promise<StageSummary> {
  const t0 = Date.now();
  const dir = ctx.stageDir('eval');
  const bundleDir = join(ctx.dir, 'bundle');
  const report = await evaluateOnPresetData(await openBundle(bundleDir), ctx.preset, ctx.seed, { outDir: dir, log: ctx.log });
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
  // Metrics go into the manifest; it lists no hash of itself, so the bundle's files stay valid.
  const manifestPath = join(bundleDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.metrics = report;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000 };
}
