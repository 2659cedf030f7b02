import { GRAPHS } from '../bundle/graphs.ts';
import type { DiffusionRuntime, Tensor } from './runtime.ts';

/** The slice of onnxruntime's API (node and web share it) that the pipeline uses. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSessionLike {
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
}
export interface OrtModuleLike {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensorLike;
}

export interface BundleSessions {
  unet: OrtSessionLike;
  vaeDecoder: OrtSessionLike;
  vaeEncoder?: OrtSessionLike;
  upscaler?: OrtSessionLike;
}

/** A DiffusionRuntime on onnxruntime sessions of a bundle's graphs (tensor names from GRAPHS). */
export function ortRuntime(ort: OrtModuleLike, s: BundleSessions): DiffusionRuntime {
  const f = (t: Tensor) => new ort.Tensor('float32', t.data, t.dims);
  const v = (data: Float32Array) => new ort.Tensor('float32', data, [data.length]);
  const out = (t: OrtTensorLike): Tensor => ({ data: t.data as Float32Array, dims: [...t.dims] });
  return {
    unet: async (sample, timestep, context) => {
      const { inputs: i, outputs: o } = GRAPHS.unet;
      return out((await s.unet.run({ [i.sample]: f(sample), [i.timestep]: v(timestep), [i.context]: f(context) }))[o.out]);
    },
    decode: async (latents) =>
      out((await s.vaeDecoder.run({ [GRAPHS.vaeDecoder.inputs.latents]: f(latents) }))[GRAPHS.vaeDecoder.outputs.image]),
    encode: s.vaeEncoder
      ? async (image) => out((await s.vaeEncoder!.run({ [GRAPHS.vaeEncoder.inputs.image]: f(image) }))[GRAPHS.vaeEncoder.outputs.mean])
      : undefined,
    upscale: s.upscaler
      ? async (sample, timestep, lowRes, noiseLevel) => {
          const { inputs: i, outputs: o } = GRAPHS.upscaler;
          return out(
            (
              await s.upscaler!.run({
                [i.sample]: f(sample),
                [i.timestep]: v(timestep),
                [i.lowRes]: f(lowRes),
                [i.noiseLevel]: v(noiseLevel),
              })
            )[o.out],
          );
        }
      : undefined,
  };
}

/**
 * A bundle's DiffusionRuntime from a platform's session factory (onnxruntime-node from disk or an edge's
 * files, onnxruntime-web in the page): the U-Net and VAE decoder always, the VAE encoder and the upscaler
 * when the bundle has them and the caller needs them (the page creates those on first use).
 */
export async function bundleRuntime(
  ort: OrtModuleLike,
  files: Record<string, unknown>,
  session: (file: string) => Promise<OrtSessionLike>,
  needs: { encoder?: boolean; upscaler?: boolean } = { encoder: true, upscaler: true },
): Promise<DiffusionRuntime> {
  const optional = async (file: string, wanted?: boolean) => (wanted && files[file] ? session(file) : undefined);
  const [unet, vaeDecoder, vaeEncoder, upscaler] = await Promise.all([
    session(GRAPHS.unet.file),
    session(GRAPHS.vaeDecoder.file),
    optional(GRAPHS.vaeEncoder.file, needs.encoder),
    optional(GRAPHS.upscaler.file, needs.upscaler),
  ]);
  return ortRuntime(ort, { unet, vaeDecoder, vaeEncoder, upscaler });
}
