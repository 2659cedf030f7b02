import type { Manifest } from '../bundle/manifest.ts';

/**
 * The pipeline's contract with inference back ends (onnxruntime-node, onnxruntime-web on WebGPU or WASM):
 * what it needs from a runtime, and which parts of a manifest it reads.
 */

/** A tensor as runtimes exchange it: data plus dims, NCHW for images. */
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

/** A U-Net call's inputs, keyed as the network definition and GRAPHS name them. */
export interface UnetCall {
  sample: Tensor;
  timestep: Float32Array;
  context: Tensor;
}
export interface UpscalerCall {
  sample: Tensor;
  timestep: Float32Array;
  lowRes: Tensor;
  noiseLevel: Float32Array;
}

/** What a pipeline needs from an inference runtime (onnxruntime-node, -web on WebGPU or WASM). */
export interface DiffusionRuntime {
  unet(inputs: UnetCall): Promise<Tensor>;
  decode(latents: Tensor): Promise<Tensor>;
  encode?(image: Tensor): Promise<Tensor>;
  upscale?(inputs: UpscalerCall): Promise<Tensor>;
}

/** The manifest fields generation reads: a run's configs provide them before any bundle exists. */
export type PipelineManifest = Pick<Manifest, 'latent' | 'diffusion' | 'upscale'>;
