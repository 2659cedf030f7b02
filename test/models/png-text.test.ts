import { describe, expect, it } from 'vitest';
import { formatParameters, parseParameters, readPngText, withPngText } from '../../models/png-text.ts';
import { decodeImage, encodePng } from '../../node/png.ts';

describe('PNG generation parameters', () => {
  const image = { width: 4, height: 4, data: Float32Array.from({ length: 48 }, (_, i) => (i % 7) / 7) };
  const params = {
    prompt: 'red heart',
    negative: 'blue',
    steps: 20,
    guidance: 2,
    sampler: 'dpmpp-2m',
    seed: 42,
    model: 'emoji@abc',
    size: 64,
    strength: 0.6,
    upscale: true,
  };

  it('round-trip through a tEXt chunk that every PNG decoder accepts (CRC checked by pngjs)', () => {
    const png = withPngText(encodePng(image), { parameters: formatParameters(params), Software: 'edge-diffusion' });
    expect(decodeImage(png).data).toEqual(decodeImage(encodePng(image)).data);
    const text = readPngText(png);
    expect(text.Software).toBe('edge-diffusion');
    expect(parseParameters(text.parameters)).toEqual(params);
  });

  it('is the conventional layout: prompt, "Negative prompt:", then Key: value pairs', () => {
    expect(formatParameters({ ...params, strength: undefined, upscale: false })).toBe(
      'red heart\nNegative prompt: blue\nSteps: 20, Sampler: dpmpp-2m, CFG scale: 2, Seed: 42, Size: 64x64, Model: emoji@abc',
    );
    expect(parseParameters('just a caption')).toBeUndefined();
  });

  it('refuses what is not a PNG', () => {
    expect(() => readPngText(new Uint8Array(40))).toThrow(/not a PNG/);
  });
});
