import { describe, expect, it } from 'vitest';
import { generateScene, renderScene, scoreScene } from '../../../trainer/data/shapes.ts';

describe('the shapes detector on real renders', () => {
  for (const size of [32, 64]) {
    // Measured: 200 of 200 at both sizes.
    it(`reads colour and shape of one-object scenes at ${size} px (≥ 98 %)`, () => {
      const scenes = Array.from({ length: 200 }, (_, i) => generateScene(11, i, { maxObjects: 1 }));
      const right = scenes.filter((s) => scoreScene(renderScene(s, size), s).colourShape).length;
      expect(right / scenes.length).toBeGreaterThanOrEqual(0.98);
    });
  }

  it('rejects a render of a different scene', () => {
    const scenes = Array.from({ length: 100 }, (_, i) => generateScene(12, i, { maxObjects: 1 }));
    const wrong = scenes.filter((s, i) => {
      const other = scenes[(i + 1) % scenes.length];
      const same = other.objects[0].colour === s.objects[0].colour && other.objects[0].shape === s.objects[0].shape;
      return !same && scoreScene(renderScene(other, 32), s).colourShape;
    }).length;
    expect(wrong).toBe(0);
  });
});
