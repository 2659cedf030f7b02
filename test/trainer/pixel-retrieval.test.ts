import { describe, expect, it } from 'vitest';
import { createRng } from '../../models/diffusion/rng.ts';
import type { FloatImage } from '../../models/image.ts';
import { baseCaption, pixelRetrieval } from '../../trainer/report/pixel-retrieval.ts';

const flat = (seed: number, size = 64): FloatImage => {
  const rng = createRng(seed);
  const colour = rng.fill(3);
  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.tanh(colour[i % 3]) + 0.05 * Math.sin(i * seed);
  return { width: size, height: size, data };
};

describe('pixel retrieval judge', () => {
  it('strips skin-tone qualifiers and nothing else', () => {
    expect(baseCaption('waving hand: light skin tone')).toBe('waving hand');
    expect(baseCaption('handshake: dark skin tone, medium-dark skin tone')).toBe('handshake');
    expect(baseCaption('man: light skin tone, curly hair')).toBe('man: curly hair');
    expect(baseCaption('woman: medium-light skin tone, red hair')).toBe('woman: red hair');
    expect(baseCaption('grinning face')).toBe('grinning face');
    expect(baseCaption('keycap: 5')).toBe('keycap: 5');
  });

  it('the real images score perfectly, a fixed derangement near chance, and noise moves ranks down', () => {
    const gallery = Array.from({ length: 40 }, (_, i) => ({
      image: flat(i + 1),
      caption: i < 4 ? `hand: ${['light', 'medium', 'dark', 'medium-dark'][i]} skin tone` : `emoji ${i}`,
    }));
    const judge = pixelRetrieval(gallery);
    const self = judge.score(gallery.map((g, own) => ({ image: g.image, own })));
    expect(self).toMatchObject({ top1: 1, top5: 1, baseMatch: 1, medianRank: 1, queries: 40 });
    const deranged = judge.score(gallery.map((_, own) => ({ image: gallery[(own + 20) % 40].image, own })));
    expect(deranged.top1).toBe(0);
    expect(deranged.medianRank).toBeGreaterThan(5);
    // Skin-tone variants share a base: another tone's image still counts as a base match.
    const tone = judge.score([{ image: gallery[1].image, own: 0 }]);
    expect(tone).toMatchObject({ top1: 0, baseMatch: 1 });
  });

  it('scores a 64 px query against a 32 px thumbnail of the gallery (area downscale)', () => {
    const gallery = Array.from({ length: 8 }, (_, i) => ({ image: flat(i + 1, 64), caption: `e${i}` }));
    const judge = pixelRetrieval(gallery, 32);
    expect(judge.score([{ image: flat(3, 64), own: 2 }]).top1).toBe(1);
    expect(() => pixelRetrieval(gallery.slice(0, 3))).toThrow(/at least 5/);
  });
});
