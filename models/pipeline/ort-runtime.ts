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

/** A DiffusionRuntime on onnxruntime sessions of a bundle's graphs (diffusers input/output names). */
export function ortRuntime(ort: OrtModuleLike, s: BundleSessions): DiffusionRuntime {
  const f = (t: Tensor) => new ort.Tensor('float32', t.data, t.dims);
  const v = (data: Float32Array) => new ort.Tensor('float32', data, [data.length]);
  const out = (t: OrtTensorLike): Tensor => ({ data: t.data as Float32Array, dims: [...t.dims] });
  return {
    unet: async (sample, timestep, context) => out((await s.unet.run({ sample: f(sample), timestep: v(timestep), encoder_hidden_states: f(context) })).out_sample),
    decode: async (latents) => out((await s.vaeDecoder.run({ latent_sample: f(latents) })).sample),
    encode: s.vaeEncoder ? async (image) => out((await s.vaeEncoder!.run({ sample: f(image) })).latent_mean) : undefined,
    upscale: s.upscaler
      ? async (sample, timestep, lowRes, noiseLevel) =>
          out((await s.upscaler!.run({ sample: f(sample), timestep: v(timestep), low_res: f(lowRes), noise_level: v(noiseLevel) })).out_sample)
      : undefined,
  };
}
