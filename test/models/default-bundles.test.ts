import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_FILES } from '../../models/bundle/manifest.ts';
import { downscale, resizeBicubic, type FloatImage } from '../../models/image.ts';
import { generate, upscaleImage } from '../../models/pipeline/generate.ts';
import { batchToImages, imagesToBatch } from '../../models/pipeline/layout.ts';
import { loadPresetData } from '../../trainer/data/preset-data.ts';
import { getPreset } from '../../trainer/presets.ts';
import { openBundle } from '../../node/bundle.ts';
import { ROOT } from '../support/cli.ts';

const BUNDLES = join(ROOT, 'models', 'bundles');
const names = existsSync(BUNDLES) ? readdirSync(BUNDLES).filter((n) => existsSync(join(BUNDLES, n, 'manifest.json'))) : [];
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);

// Prompts per family: pairs that must not be confused.
const PROMPTS: Record<string, [string, string]> = {
  emoji: ['grinning face', 'red heart'],
  shapes: ['a large red circle', 'a small blue triangle'],
};

describe('the bundles shipped in models/bundles', () => {
  it('there is at least one, so npm start has a model', () => {
    expect(names.length).toBeGreaterThan(0);
  });

  for (const name of names) {
    it(`${name}: files match the manifest, and generated images match their prompt better than a mismatched one`, async () => {
      const bundle = await openBundle(join(BUNDLES, name)); // schema + SHA-256 and size of every file
      expect(bundle.manifest.name).toBe(name);
      // The browser's download for this model stays within 10 MB (the text encoder stays on the edge).
      const download = CLIENT_FILES.reduce((s, f) => s + (bundle.manifest.files[f]?.size ?? 0), 0);
      expect(download).toBeLessThanOrEqual(10e6);
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

    // Measured on 64 held-out images: emoji 41.7 vs 29.5 dB, shapes 52.7 vs 32.0 dB (docs/results/*/report.json).
    it(`${name}: the upscaler beats bicubic by at least 6 dB PSNR on held-out 2× ground truth`, async () => {
      const bundle = await openBundle(join(BUNDLES, name));
      const preset = getPreset(bundle.manifest.training.preset);
      const hi = (await loadPresetData(preset.data, bundle.manifest.training.seed, 2 * preset.imageSize)).heldOut.samples.slice(0, 8).map((s) => s.image);
      const low = hi.map((h) => downscale(h, 2));
      const out = await upscaleImage(await bundle.runtime(), bundle.manifest, imagesToBatch(low), 3);
      const up = batchToImages(out.data, out.dims);
      const mse = (a: FloatImage, b: FloatImage) => a.data.reduce((s, v, i) => s + (Math.max(-1, Math.min(1, v)) - b.data[i]) ** 2, 0) / a.data.length;
      const upMse = hi.reduce((s, h, i) => s + mse(up[i], h), 0);
      const bicubicMse = hi.reduce((s, h, i) => s + mse(resizeBicubic(low[i], h.width, h.height), h), 0);
      expect(10 * Math.log10(bicubicMse / upMse)).toBeGreaterThanOrEqual(6);
    });
  }
});
