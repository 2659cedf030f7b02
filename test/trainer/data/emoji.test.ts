import { describe, expect, it } from 'vitest';
import { emojiCaptions, loadEmojiDataset } from '../../../trainer/data/emoji.ts';
import { loadPresetData } from '../../../trainer/data/preset-data.ts';
import { downscale } from '../../../models/image.ts';

describe('emoji data (Twemoji SVGs + emojibase captions)', () => {
  it('captions every pictured emoji, skin tones included, components excluded', () => {
    const { captions, missing } = emojiCaptions();
    expect(captions.length).toBeGreaterThan(3000);
    const names = new Set(captions.map((c) => c.caption));
    for (const n of ['grinning face', 'red heart', 'waving hand: dark skin tone', 'flag: japan']) expect(names.has(n), n).toBe(true);
    for (const n of ['regional indicator a', 'red hair', 'medium skin tone']) expect(names.has(n), n).toBe(false);
    expect(missing).toBeLessThan(captions.length / 5);
  });

  it('renders at any size on white: corners white, the centre coloured, the 2× image the same picture', async () => {
    const [small, big] = await Promise.all([loadEmojiDataset(16), loadEmojiDataset(32)]);
    expect(small.samples.length).toBe(big.samples.length);
    const i = small.samples.findIndex((s) => s.caption === 'red heart');
    const px = (im: { width: number; data: Float32Array }, x: number, y: number) =>
      Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));
    const heart = small.samples[i].image;
    expect(px(heart, 0, 0)).toEqual([1, 1, 1]);
    const [r, g, b] = px(heart, 8, 8);
    expect(r).toBeGreaterThan(0.5); // red: high R, low G and B (in [-1, 1])
    expect(g).toBeLessThan(-0.3);
    expect(b).toBeLessThan(-0.3);
    // Box-downscaled 32 px render ≈ 16 px render (same vector source): mean abs difference small.
    const boxed = downscale(big.samples[i].image, 2);
    const diff = boxed.data.reduce((s, v, k) => s + Math.abs(v - heart.data[k]), 0);
    expect(diff / boxed.data.length).toBeLessThan(0.05);
  });

  it('holds out the same captions at every size, spread over the whole list, disjoint from training', async () => {
    const spec = { kind: 'emoji', heldOut: 64 } as const;
    const [a, b] = await Promise.all([loadPresetData(spec, 1, 8), loadPresetData(spec, 1, 16)]);
    expect(a.heldOut.samples.length).toBe(64);
    expect(a.heldOut.samples.map((s) => s.caption)).toEqual(b.heldOut.samples.map((s) => s.caption));
    const train = new Set(a.train.samples.map((s) => s.caption));
    expect(a.heldOut.samples.filter((s) => train.has(s.caption))).toEqual([]);
    expect(a.train.samples.length + a.heldOut.samples.length).toBe(emojiCaptions().captions.length);
    expect(a.train.source.count).toBe(a.train.samples.length);
    // Spread: held-out captions come from the first and the last tenth of emojibase's order alike.
    const all = emojiCaptions().captions.map((c) => c.caption);
    const pos = a.heldOut.samples.map((s) => all.indexOf(s.caption) / all.length);
    expect(Math.min(...pos)).toBeLessThan(0.1);
    expect(Math.max(...pos)).toBeGreaterThan(0.9);
  });
});
