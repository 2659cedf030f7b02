import { initWasm, Resvg } from '@resvg/resvg-wasm';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { rgbaToFloat } from '../../models/image.ts';
import type { Dataset, Sample } from './dataset.ts';

const require = createRequire(import.meta.url);

const emojiEntry = z.object({
  label: z.string(),
  hexcode: z.string(),
  group: z.number().optional(),
});
const emojibaseEntry = emojiEntry.extend({ skins: z.array(emojiEntry).optional() });

/** emojibase's group 2 is skin-tone/hair components, not pictures anyone asks for. */
const COMPONENT_GROUP = 2;

export interface EmojiCaption {
  caption: string;
  /** Twemoji SVG file name (no folder). */
  file: string;
}

let resvgReady: Promise<void> | undefined;
function initResvg(): Promise<void> {
  // resvg's wasm may be initialised once per process; every caller shares this promise.
  resvgReady ??= initWasm(readFileSync(require.resolve('@resvg/resvg-wasm/index_bg.wasm')));
  return resvgReady;
}

/** Twemoji names files by lower-case code points joined by '-', dropping FE0F outside ZWJ sequences. */
function svgFileFor(svgDir: string, hexcode: string): string | undefined {
  const exact = hexcode.toLowerCase();
  const candidates = [
    exact,
    exact
      .split('-')
      .filter((c) => c !== 'fe0f')
      .join('-'),
  ];
  return candidates.map((c) => `${c}.svg`).find((f) => existsSync(join(svgDir, f)));
}

/** Every emoji (skin-tone variants included) that has a Twemoji picture, with its CLDR English name as caption, in emojibase order. */
export function emojiCaptions(): { captions: EmojiCaption[]; svgDir: string; missing: number } {
  const svgDir = dirname(require.resolve('@twemoji/svg/1f600.svg'));
  const entries = z.array(emojibaseEntry).parse(JSON.parse(readFileSync(require.resolve('emojibase-data/en/data.json'), 'utf8')));
  const captions: EmojiCaption[] = [];
  let missing = 0;
  for (const e of entries) {
    if (e.group === undefined || e.group === COMPONENT_GROUP) continue;
    for (const v of [e, ...(e.skins ?? [])]) {
      const file = svgFileFor(svgDir, v.hexcode);
      if (file) captions.push({ caption: v.label.toLowerCase(), file });
      else missing++;
    }
  }
  return { captions, svgDir, missing };
}

/**
 * Twemoji (CC-BY 4.0) rendered from its SVGs on white at any size, captioned with emojibase's English
 * names: vector sources, so the 2× upscaler gets true high-resolution targets rather than resampled ones.
 */
export async function loadEmojiDataset(size: number): Promise<Dataset> {
  await initResvg();
  const { captions, svgDir, missing } = emojiCaptions();
  const samples: Sample[] = captions.map(({ caption, file }) => {
    const svg = readFileSync(join(svgDir, file), 'utf8');
    const png = new Resvg(svg, { fitTo: { mode: 'width', value: size }, background: 'white' }).render();
    if (png.width !== size || png.height !== size)
      throw new Error(`${file} rendered at ${png.width}×${png.height}, expected ${size}×${size}`);
    const image = rgbaToFloat(png.pixels, size, size);
    png.free();
    return { image, caption };
  });
  return {
    source: {
      name: 'twemoji',
      description: 'Twemoji SVGs (@twemoji/svg) rendered on white, captions from emojibase-data (en labels, skin tones included)',
      licence: 'Twemoji graphics CC-BY 4.0 (Twitter, Inc. and other contributors); emojibase-data MIT',
      attribution:
        'Trained on Twemoji graphics © Twitter, Inc. and other contributors, CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/); captions from emojibase (MIT).',
      count: samples.length,
    },
    imageSize: size,
    samples,
    skipped: missing ? { 'no Twemoji picture': missing } : {},
  };
}
