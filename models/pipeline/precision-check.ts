import type { Manifest } from '../bundle/manifest.ts';
import { generate } from './generate.ts';
import type { DiffusionRuntime } from './runtime.ts';

/**
 * The largest per-channel difference (0–255) allowed between the images of the float16 and the float32 U-Net
 * before a device falls back to float32: a small multiple of the 3/255 that WebGPU and WASM may differ by
 * (rounding, not a broken graph: a float16 overflow gives NaN or a visibly different picture).
 */
export const HALF_PRECISION_MAX_DIFF = 8;

/**
 * The same short generation (2 steps, seed 0, an all-zero text condition) with both U-Nets, compared image to
 * image: the check a device with `shader-f16` passes before its U-Net runs in float16.
 */
export async function halfPrecisionImageDiff(
  full: DiffusionRuntime,
  half: DiffusionRuntime,
  manifest: Pick<Manifest, 'latent' | 'diffusion' | 'upscale' | 'tokenizer' | 'networks'>,
): Promise<number> {
  const dims = [1, manifest.tokenizer.maxLength, manifest.networks.textEncoder.width];
  const zeros = { data: new Float32Array(dims[1] * dims[2]), dims };
  const image = (runtime: DiffusionRuntime) => generate(runtime, manifest, { cond: zeros, uncond: zeros, steps: 2, guidance: 1, seed: 0 });
  const [a, b] = [await image(full), await image(half)];
  // Images are in [-1, 1]: 127.5 per unit. NaN (an overflow) counts as the largest difference.
  return a.data.reduce((m, v, i) => Math.max(m, Number.isNaN(b.data[i] - v) ? Infinity : Math.abs(b.data[i] - v) * 127.5), 0);
}
