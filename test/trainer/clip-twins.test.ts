import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../models/text/tokenizer.ts';
import { mixSeed } from '../../models/diffusion/rng.ts';
import type { RunContext } from '../../trainer/context.ts';
import { batchIndices } from '../../trainer/data/dataset.ts';
import { caption, shapesDataset, twinScene } from '../../trainer/data/shapes.ts';
import { getPreset } from '../../trainer/presets.ts';
import { clipObjective } from '../../trainer/stages/clip.ts';
import { trainTokenizer } from '../../trainer/tokenizer-train.ts';

describe('contrastive batches with twins', () => {
  it("pair each of the first half's samples with its hard negative in the second half, image and caption together", () => {
    const preset = getPreset('shapes');
    const size = preset.imageSize;
    const ds = shapesDataset(6, 200, size, { maxObjects: 2 });
    const T = 16;
    const tok = loadTokenizer(
      JSON.parse(
        trainTokenizer(
          ds.samples.map((s) => s.caption),
          T,
        ),
      ),
      T,
    );
    const b = 16;
    const half = b / 2;
    const ctx = (twins: boolean) =>
      ({
        seed: 1,
        preset: { ...preset, stages: { ...preset.stages, clip: { ...preset.stages.clip, batchSize: b, twins } } },
        tokenizer: () => tok,
        configs: () => ({}),
      }) as unknown as RunContext;
    type Batch = { ids: Int32Array; images: Float32Array };
    const plain = clipObjective(ctx(false), ds).batch(3) as Batch;
    const paired = clipObjective(ctx(true), ds).batch(3) as Batch;
    const row = (x: Int32Array, k: number) => Array.from(x.subarray(k * T, (k + 1) * T));
    const image = (x: Float32Array, k: number) => x.subarray(k * size * size * 3, (k + 1) * size * size * 3);
    const idx = batchIndices(ds.samples.length, b, mixSeed(1, 1), 3);
    let twinned = 0;
    for (let k = 0; k < half; k++) {
      // The first half is the ordinary batch.
      expect(row(paired.ids, k)).toEqual(row(plain.ids, k));
      expect(image(paired.images, k)).toEqual(image(plain.images, k));
      // The second half: one of the partner's twins (each kind drawn by a fixed draw), as caption and as image.
      const partner = ds.scenes[idx[k]];
      const candidates = [0.1, 0.5, 0.9].map((u) => twinScene(partner, () => u)).filter((t) => t !== undefined);
      const ids = row(paired.ids, k + half);
      const match = candidates.find((t) => JSON.stringify(Array.from(tok.encodeBatch([caption(t)]))) === JSON.stringify(ids));
      if (!match) continue;
      twinned++;
      expect(image(paired.images, k + half)).not.toEqual(image(paired.images, k));
    }
    expect(twinned).toBeGreaterThanOrEqual(half - 1);
  });
});
