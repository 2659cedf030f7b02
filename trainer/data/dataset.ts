import { createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import type { FloatImage } from '../../models/image.ts';

export interface Sample {
  image: FloatImage;
  caption: string;
}

/** Where the data came from and under which terms; recorded in the bundle manifest. */
export interface DataSource {
  name: string;
  description: string;
  licence: string;
  /** The credit the licence asks every viewer of the model's output to see (shown on the page). */
  attribution?: string;
  count: number;
}

export interface Dataset {
  source: DataSource;
  imageSize: number;
  samples: Sample[];
  /**
   * A hard negative for contrastive training: sample `index` changed in one thing its caption names (two
   * objects' shapes or colours swapped, the relation reversed, …), rendered; undefined where there is none.
   * Only datasets that generate their images have it.
   */
  twin?(index: number, rand: () => number): Sample | undefined;
  /** Problems found while loading (unreadable file, missing caption, …), counted, never fatal. */
  skipped: Record<string, number>;
}

/** Deterministic permutation of 0..n-1 for (seed, epoch): resuming mid-run replays the same order. */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  const rand = createUniformRng(mixSeed(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The sample indices of batch `step` (0-based), walking epochs in their seeded orders. */
export function batchIndices(n: number, batchSize: number, seed: number, step: number): number[] {
  const out: number[] = [];
  let pos = step * batchSize;
  let epoch = Math.floor(pos / n);
  let order = epochOrder(n, seed, epoch);
  for (let k = 0; k < batchSize; k++, pos++) {
    const e = Math.floor(pos / n);
    if (e !== epoch) {
      epoch = e;
      order = epochOrder(n, seed, epoch);
    }
    out.push(order[pos % n]);
  }
  return out;
}
