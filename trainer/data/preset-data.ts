import type { Dataset } from './dataset.ts';
import { loadEmojiDataset } from './emoji.ts';
import { loadFolderDataset } from './folder.ts';
import { shapesDataset, type ShapeScene } from './shapes.ts';

export type DataSpec =
  /** `heldOutCombinations`: scenes with attribute combinations no training scene has (HELD_OUT_COMBINATIONS). */
  | { kind: 'shapes'; count: number; heldOut: number; maxObjects: 1 | 2; twoObjectShare?: number; heldOutCombinations?: number }
  | { kind: 'emoji'; heldOut: number }
  | { kind: 'folder'; path: string; heldOut: number };

export interface SplitData {
  train: Dataset;
  /** Never trained on; carries the generator's ground truth for synthetic scenes. */
  heldOut: Dataset & { scenes?: ShapeScene[] };
  /** Synthetic scenes made only of combinations the training set never shows. */
  heldOutCombinations?: Dataset & { scenes: ShapeScene[] };
}

function split(all: Dataset, isHeldOut: (i: number) => boolean): SplitData {
  const part = (keep: boolean) => {
    const samples = all.samples.filter((_, i) => isHeldOut(i) === keep);
    return { ...all, samples, source: { ...all.source, count: samples.length } };
  };
  return { train: part(false), heldOut: part(true) };
}

/**
 * A preset's data at `size` px, split the same way at every size (so the upscaler's high-resolution
 * held-out images are the base model's held-out images). At most a fifth is held out, so a small folder
 * still trains; emoji hold out every k-th so every category is represented, a folder its tail.
 */
export async function loadPresetData(spec: DataSpec, seed: number, size: number): Promise<SplitData> {
  if (spec.kind === 'shapes') {
    const opts = { maxObjects: spec.maxObjects, twoObjectShare: spec.twoObjectShare };
    return {
      train: shapesDataset(seed, spec.count, size, opts),
      heldOut: shapesDataset(seed, spec.heldOut, size, opts, spec.count),
      heldOutCombinations: spec.heldOutCombinations
        ? shapesDataset(seed, spec.heldOutCombinations, size, opts, 0, 'combinations')
        : undefined,
    };
  }
  const all = spec.kind === 'emoji' ? await loadEmojiDataset(size) : loadFolderDataset(spec.path, size);
  const n = all.samples.length;
  const held = Math.min(spec.heldOut, Math.floor(n / 5));
  if (spec.kind === 'folder') return split(all, (i) => i >= n - held);
  const stride = Math.floor(n / Math.max(held, 1));
  return split(all, (i) => held > 0 && i % stride === stride - 1 && i < stride * held);
}
