import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_FILES, CLIENT_FILES_AT_LOAD } from '../../models/bundle/manifest.ts';
import { downscale, resizeBicubic, type FloatImage } from '../../models/image.ts';
import { generate, upscaleImage } from '../../models/pipeline/generate.ts';
import { batchToImages, imagesToBatch } from '../../models/pipeline/layout.ts';
import { loadPresetData } from '../../trainer/data/preset-data.ts';
import { getPreset } from '../../trainer/presets.ts';
import { openBundle } from '../../node/bundle.ts';
import { pixelRetrieval } from '../../trainer/report/pixel-retrieval.ts';
import { parseCaption, scoreScene } from '../../trainer/data/shapes.ts';
import { promptProblem } from '../../models/text/tokenizer.ts';
import { ROOT } from '../support/cli.ts';

const BUNDLES = join(ROOT, 'models', 'bundles');
const names = existsSync(BUNDLES) ? readdirSync(BUNDLES).filter((n) => existsSync(join(BUNDLES, n, 'manifest.json'))) : [];
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);

// Prompts per family: pairs that must not be confused.
const PROMPTS: Record<string, [string, string]> = {
  emoji: ['grinning face', 'red heart'],
  shapes: ['a large red circle', 'a small blue triangle'],
};

/**
 * Measured on 64 held-out images (docs/results/<model>/report.json → upscaler): emoji 33.6 vs 29.5 dB (its
 * upscaler learns from the VAE's reconstructions, what the base model hands it, so box-filtered inputs are
 * not its home ground; on VAE-decoded inputs it gains 1.4 dB), shapes 52.3 vs 31.7 dB (40.0 vs 31.2 on VAE-decoded inputs).
 */
const UPSCALER_FLOOR_DB: Record<string, number> = { emoji: 3, shapes: 6 };

describe('the bundles shipped in models/bundles', () => {
  it('there is at least one, so npm start has a model', () => {
    expect(names.length).toBeGreaterThan(0);
  });

  for (const name of names) {
    it(`${name}: files match the manifest, and generated images match their prompt better than a mismatched one`, async () => {
      const bundle = await openBundle(join(BUNDLES, name)); // schema + SHA-256 and size of every file
      expect(bundle.manifest.name).toBe(name);
      // A first visit downloads at most 10 MB of this model (U-Net and VAE decoder; the text encoder stays on
      // the edge), everything the browser may ever fetch (img2img's encoder, the upscaler) at most 15 MB.
      const size = (files: readonly string[]) => files.reduce((s, f) => s + (bundle.manifest.files[f]?.size ?? 0), 0);
      expect(size(CLIENT_FILES_AT_LOAD)).toBeLessThanOrEqual(10e6);
      expect(size(CLIENT_FILES)).toBeLessThanOrEqual(15e6);
      expect(bundle.manifest.files[CLIENT_FILES[0]]).toBeDefined();
      const prompts = PROMPTS[name];
      expect(prompts, `add prompts for ${name}`).toBeDefined();
      const text = await bundle.encodeText(prompts);
      const empty = await bundle.encodeText(prompts.map(() => ''));
      const image = await generate(await bundle.runtime(), bundle.manifest, { cond: text.hidden, uncond: empty.hidden, seed: 7 });
      const embeds = await bundle.embedImages(image);
      // CLIP score margin: each image is closer to its own prompt than to the other one.
      expect(dot(embeds[0], text.embeds[0])).toBeGreaterThan(dot(embeds[0], text.embeds[1]) + 0.05);
      expect(dot(embeds[1], text.embeds[1])).toBeGreaterThan(dot(embeds[1], text.embeds[0]) + 0.05);
    });

    it(`${name}: every example prompt the page offers is accepted as it is (within the token limit, every character representable)`, async () => {
      const bundle = await openBundle(join(BUNDLES, name));
      expect(bundle.manifest.examples?.length).toBeGreaterThanOrEqual(10);
      for (const example of bundle.manifest.examples ?? []) expect(promptProblem(bundle.tokenizer, example), example).toBeUndefined();
    });

    if (name === 'shapes')
      it("shapes: the two-object example prompts come out right (each object's colour, shape and size and the relation, by the ground-truth detector) for at least 8 of 10", async () => {
        const bundle = await openBundle(join(BUNDLES, name));
        const prompts = (bundle.manifest.examples ?? []).filter((e) => parseCaption(e)?.relation);
        expect(prompts.length).toBe(10);
        const text = await bundle.encodeText(prompts);
        const empty = await bundle.encodeText(prompts.map(() => ''));
        const out = await generate(await bundle.runtime(), bundle.manifest, { cond: text.hidden, uncond: empty.hidden, seed: 7 });
        const right = batchToImages(out.data, out.dims).filter((image, i) => scoreScene(image, parseCaption(prompts[i])!).all);
        // The issue asks 6 of 8; v15 (default guidance 1.75) draws all 10 right at this seed and at each of seeds
        // 1–5, as v14 did at 1.25 (the hard-mask detector before 5f08c27 read v14's as 9 here, 9, 9, 9, 9, 7 there),
        // and a model that cannot bind, like v2, none.
        expect(right.length).toBeGreaterThanOrEqual(8);
      });

    if (name === 'emoji')
      it("emoji: the pixel-space judge finds a training caption's own emoji among the 5 nearest real images for at least half of 16 captions × 2 seeds", {
        timeout: 300_000,
      }, async () => {
        const bundle = await openBundle(join(BUNDLES, name));
        const preset = getPreset(bundle.manifest.training.preset);
        const { train, heldOut } = await loadPresetData(preset.data, bundle.manifest.training.seed, preset.imageSize);
        const gallery = [...train.samples, ...heldOut.samples];
        const judge = pixelRetrieval(gallery);
        const own = Array.from({ length: 16 }, (_, i) => Math.floor((i * train.samples.length) / 16));
        const prompts = own.map((i) => gallery[i].caption);
        const text = await bundle.encodeText(prompts);
        const empty = await bundle.encodeText(prompts.map(() => ''));
        const runtime = await bundle.runtime();
        const queries = [];
        for (const seed of [1, 2]) {
          const out = await generate(runtime, bundle.manifest, { cond: text.hidden, uncond: empty.hidden, seed });
          queries.push(...batchToImages(out.data, out.dims).map((image, k) => ({ image, own: own[k] })));
        }
        // Chance is 5 in 3 641. Measured on these 32 images: 0.66 (the model before it: 0.25); on 128 captions × 4
        // seeds, docs/results/emoji/report.json → retrieval.train: 0.64.
        expect(judge.score(queries).top5).toBeGreaterThanOrEqual(0.5);
      });

    it(`${name}: the upscaler beats bicubic by at least ${UPSCALER_FLOOR_DB[name]} dB PSNR on held-out 2× ground truth`, async () => {
      const bundle = await openBundle(join(BUNDLES, name));
      const preset = getPreset(bundle.manifest.training.preset);
      const hi = (await loadPresetData(preset.data, bundle.manifest.training.seed, 2 * preset.imageSize)).heldOut.samples
        .slice(0, 8)
        .map((s) => s.image);
      const low = hi.map((h) => downscale(h, 2));
      const out = await upscaleImage(await bundle.runtime(), bundle.manifest, imagesToBatch(low), 3);
      const up = batchToImages(out.data, out.dims);
      const mse = (a: FloatImage, b: FloatImage) =>
        a.data.reduce((s, v, i) => s + (Math.max(-1, Math.min(1, v)) - b.data[i]) ** 2, 0) / a.data.length;
      const upMse = hi.reduce((s, h, i) => s + mse(up[i], h), 0);
      const bicubicMse = hi.reduce((s, h, i) => s + mse(resizeBicubic(low[i], h.width, h.height), h), 0);
      expect(10 * Math.log10(bicubicMse / upMse)).toBeGreaterThanOrEqual(UPSCALER_FLOOR_DB[name]);
    });
  }
});
