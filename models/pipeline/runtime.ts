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
  /**
   * A sampler loop with its sample, x̂₀, network outputs and conditions kept on the runtime's device between
   * steps; offered where that saves transfers (WebGPU). The base U-Net's (`context`: [uncond; cond] when guided)
   * or the upscaler's (`lowRes`, `noiseLevel`).
   */
  resident?(start: ResidentStart): Promise<ResidentRun>;
  /** How many tensors were read back from a device (GPU → CPU) so far; 0 where everything lives on the CPU. */
  deviceReads?(): number;
}

export type ResidentStart = { sample: Tensor; guided: boolean } & ({ context: Tensor } | { lowRes: Tensor; noiseLevel: Float32Array });

/** A run on the device: only previews and the result come back. */
export interface ResidentRun {
  /** One U-Net call at `timestep` and one sampler step with these coefficients (`stepCoefficients`) and noise. */
  step(timestep: number, coefficients: Float32Array, noise?: Float32Array): Promise<void>;
  /** The VAE's decoding of the last step's x̂₀ (a preview) or of the current sample (the result). */
  decode(which: 'x0' | 'sample'): Promise<Tensor>;
  /** The current sample itself, in the space the coefficients' VAE scale and shift put it (the upscaler's: as is). */
  read(): Promise<Tensor>;
  /** Frees the run's device buffers. */
  dispose(): void;
}

/** The manifest fields generation reads: a run's configs provide them before any bundle exists. */
export type PipelineManifest = Pick<Manifest, 'latent' | 'diffusion' | 'upscale'>;
