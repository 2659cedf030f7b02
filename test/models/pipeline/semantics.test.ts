/**
 * The pipeline honours its inputs, on the shipped shapes model: what img2img strength, a negative prompt
 * and the upscaler must do to an image, measured on the images (not on the code path taken).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../../models/pipeline/generate.ts';
import type { Tensor } from '../../../models/pipeline/runtime.ts';
import { batchToImages, imagesToBatch } from '../../../models/pipeline/layout.ts';
import { downscale } from '../../../models/image.ts';
import { openBundle, type NodeBundle } from '../../../node/bundle.ts';
import {
  type DetectedObject,
  detectObjects,
  detectedSize,
  generateScene,
  renderScene,
  type ShapeObject,
} from '../../../trainer/data/shapes.ts';
import { ROOT } from '../../support/cli.ts';

let bundle: NodeBundle;
beforeAll(async () => {
  bundle = await openBundle(join(ROOT, 'models/bundles/shapes'));
});

const mse = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length;
// Images are in [-1, 1]: peak-to-peak 2.
const psnr = (a: Float32Array, b: Float32Array) => 10 * Math.log10(4 / mse(a, b));

async function run(
  prompt: string,
  o: { seed: number; negative?: string; init?: { image: Tensor; strength: number }; upscale?: boolean; steps?: number },
): Promise<Tensor> {
  return generate(await bundle.runtime(), bundle.manifest, {
    cond: (await bundle.encodeText([prompt])).hidden,
    uncond: (await bundle.encodeText([o.negative ?? ''])).hidden,
    steps: o.steps ?? 12,
    seed: o.seed,
    init: o.init,
    upscale: o.upscale,
  });
}

describe('pipeline semantics', () => {
  it('img2img: strength 0 returns the init image (as the VAE reconstructs it); 0.3 stays closer to it than 1', {
    timeout: 60_000,
  }, async () => {
    const scene = generateScene(11, 0, { maxObjects: 1 });
    const init = imagesToBatch([renderScene(scene, bundle.manifest.imageSize)]);
    const prompt = 'a large blue square';
    const runtime = await bundle.runtime();
    const recon = await runtime.decode(await runtime.encode!(init));
    const s0 = await run(prompt, { seed: 1, init: { image: init, strength: 0 } });
    // Exactly the VAE round trip (the loop runs no step), which is itself close to the init image.
    expect(mse(s0.data, recon.data)).toBeLessThan(1e-10);
    expect(psnr(s0.data, init.data)).toBeGreaterThan(20);
    let closer = 0;
    for (const seed of [1, 2, 3, 4]) {
      const [weak, full] = [
        await run(prompt, { seed, init: { image: init, strength: 0.3 } }),
        await run(prompt, { seed, init: { image: init, strength: 1 } }),
      ];
      if (mse(weak.data, init.data) < mse(full.data, init.data)) closer++;
    }
    expect(closer).toBe(4);
  });

  it('a negative prompt takes away the objects it names: halves them at the default guidance, removes them at 3 (ground-truth detector, 48 unprompted scenes)', {
    timeout: 240_000,
  }, async () => {
    const n = 48;
    const generated = async (negative: string, guidance?: number) => {
      const out = await generate(await bundle.runtime(), bundle.manifest, {
        cond: (await bundle.encodeText(Array(n).fill(''))).hidden,
        uncond: (await bundle.encodeText(Array(n).fill(negative))).hidden,
        steps: 12,
        seed: 1,
        guidance,
      });
      return batchToImages(out.data, out.dims).map((image) => detectObjects(image, 2));
    };
    // The object the negative names, colour, shape and size: with a text encoder that binds attributes, 'a
    // small red circle' takes away small red circles, not every red thing.
    const named = (scenes: DetectedObject[][], o: Pick<ShapeObject, 'colour' | 'shape' | 'size'>) =>
      scenes.reduce(
        (sum, found) =>
          sum + found.filter((d) => d.colour === o.colour && d.shape === o.shape && detectedSize(d, found.length) === o.size).length,
        0,
      );
    // The empty prompt leaves the scene to the model, so a negative has room to act (with a full caption the
    // scene is already fixed). At the default guidance g a negative weighs only g − 1 against the prompt, and
    // small objects resist it. Measured (large blue squares, small red circles, large green triangles; before →
    // default → 3): v15 (g 1.75) 4/2/3 → 0/1/0 → 0/0/0; v14 (1.25) 4/2/3 → 1/2/1 → 0/0/0 (3/4/3 → 1/2/1 → 0/0/0 by the hard-mask detector before
    // 5f08c27, as every figure below); v13 (1.75) 3/4/3 → 0/1/0 → 0/0/0; v12 (1.5) 4/3/6 → 0/3/0 → 0/0/0;
    // v9 (1.5) 4/2/3 → 0/2/0 → 0/0/0.
    const unprompted = await generated('');
    let plain = 0;
    let negated = 0;
    for (const [negative, object] of [
      ['a large blue square', { colour: 'blue', shape: 'square', size: 'large' }],
      ['a small red circle', { colour: 'red', shape: 'circle', size: 'small' }],
      ['a large green triangle', { colour: 'green', shape: 'triangle', size: 'large' }],
    ] as const) {
      const before = named(unprompted, object);
      expect(before, negative).toBeGreaterThan(0);
      const atDefault = named(await generated(negative), object);
      expect(atDefault, negative).toBeLessThanOrEqual(before);
      expect(named(await generated(negative, 3), object), `${negative}, guidance 3`).toBeLessThanOrEqual(before / 4);
      plain += before;
      negated += atDefault;
    }
    expect(negated).toBeLessThanOrEqual(plain / 2);
  });

  it('the 2× upscale, box-downscaled, is the base image (≥ 30 dB)', { timeout: 60_000 }, async () => {
    const base = await run('a small green triangle', { seed: 5 });
    const up = await run('a small green triangle', { seed: 5, upscale: true });
    expect(up.dims).toEqual([1, 3, 2 * bundle.manifest.imageSize, 2 * bundle.manifest.imageSize]);
    const down = downscale(batchToImages(up.data, up.dims)[0], 2);
    const baseImage = batchToImages(base.data, base.dims)[0];
    expect(psnr(down.data, baseImage.data)).toBeGreaterThan(30);
  });
});
