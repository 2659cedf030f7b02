import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { z } from 'zod';
import { downscale, resizeBilinear } from '../../models/image.ts';
import type { Dataset, Sample } from './dataset.ts';
import { decodeImage } from '../../node/png.ts';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);
const metadataLine = z.object({ file_name: z.string(), text: z.string() }).passthrough();

/**
 * Any folder of images with captions, in the layouts diffusers/kohya training uses: `name.png` beside
 * `name.txt`, or a `metadata.jsonl` of {file_name, text}. Images must be square and at least `size`
 * pixels; larger ones are downscaled. Anything unusable is skipped and counted by reason, never fatal.
 */
export function loadFolderDataset(dir: string, size: number): Dataset {
  if (!existsSync(dir)) throw new Error(`data folder ${dir} does not exist`);
  const skipped: Record<string, number> = {};
  const skip = (why: string) => (skipped[why] = (skipped[why] ?? 0) + 1);
  const captions = new Map<string, string>();
  const meta = join(dir, 'metadata.jsonl');
  if (existsSync(meta)) {
    for (const line of readFileSync(meta, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const m = metadataLine.parse(JSON.parse(line));
        captions.set(m.file_name, m.text.trim());
      } catch {
        skip('bad metadata.jsonl line');
      }
    }
  }
  const samples: Sample[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!IMAGE_EXT.has(extname(file).toLowerCase())) continue;
    const txt = join(dir, `${basename(file, extname(file))}.txt`);
    const caption = captions.get(file) ?? (existsSync(txt) ? readFileSync(txt, 'utf8').trim() : '');
    if (!caption) {
      skip('missing caption');
      continue;
    }
    let image: ReturnType<typeof decodeImage>;
    try {
      image = decodeImage(readFileSync(join(dir, file)));
    } catch {
      skip('unreadable image');
      continue;
    }
    if (image.width !== image.height || image.width < size) {
      skip('odd size (not square or smaller than the training size)');
      continue;
    }
    if (image.width !== size) image = image.width % size === 0 ? downscale(image, image.width / size) : resizeBilinear(image, size, size);
    samples.push({ image, caption });
  }
  for (const [why, n] of Object.entries(skipped)) process.stderr.write(`warning: skipped ${n} file(s) in ${dir}: ${why}\n`);
  return {
    source: {
      name: 'folder',
      description: `images with captions from ${dir}`,
      licence: 'as provided by the folder owner',
      count: samples.length,
    },
    imageSize: size,
    samples,
    skipped,
  };
}
