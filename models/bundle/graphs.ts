/**
 * Every graph of a bundle: its file, its tensor names (diffusers' names), and each input's dimensions,
 * declared once. Keys are the network definitions' argument and result names. Dimensions are numbers or
 * symbols a bundle's sizes resolve (`GraphSizes`); `batch` stays dynamic. `kinds` marks token ids (int64)
 * and diffusion steps or noise levels; every other input is float32 values, and a 4-D one is an image (NCHW
 * in the graph). The exporter declares the inputs from here; the runtimes (onnxruntime-node and -web,
 * the edge), the trainer's export check and its stage inference feed and read them from here.
 */
export const GRAPHS = {
  textEncoder: {
    file: 'text_encoder/model.onnx',
    inputs: { ids: 'input_ids' },
    dims: { ids: ['batch', 'textLength'] },
    kinds: { ids: 'ids' },
    outputs: { hidden: 'last_hidden_state', pooled: 'text_embeds' },
  },
  imageEncoder: {
    file: 'image_encoder/model.onnx',
    inputs: { pixels: 'pixel_values' },
    dims: { pixels: ['batch', 'imageChannels', 'imageSize', 'imageSize'] },
    outputs: { embeds: 'image_embeds' },
  },
  vaeEncoder: {
    file: 'vae_encoder/model.onnx',
    inputs: { image: 'sample' },
    dims: { image: ['batch', 'imageChannels', 'imageSize', 'imageSize'] },
    outputs: { mean: 'latent_mean', logvar: 'latent_logvar' },
  },
  vaeDecoder: {
    file: 'vae_decoder/model.onnx',
    inputs: { latents: 'latent_sample' },
    dims: { latents: ['batch', 'latentChannels', 'latentSize', 'latentSize'] },
    outputs: { image: 'sample' },
  },
  unet: {
    file: 'unet/model.onnx',
    inputs: { sample: 'sample', timestep: 'timestep', context: 'encoder_hidden_states' },
    dims: { sample: ['batch', 'channels', 'size', 'size'], timestep: ['batch'], context: ['batch', 'textLength', 'textWidth'] },
    kinds: { timestep: 'step' },
    outputs: { out: 'out_sample' },
  },
  upscaler: {
    file: 'upscaler/model.onnx',
    inputs: { sample: 'sample', timestep: 'timestep', lowRes: 'low_res', noiseLevel: 'noise_level' },
    dims: {
      sample: ['batch', 'channels', 'size', 'size'],
      timestep: ['batch'],
      lowRes: ['batch', 'conditionChannels', 'halfSize', 'halfSize'],
      noiseLevel: ['batch'],
    },
    kinds: { timestep: 'step', noiseLevel: 'step' },
    outputs: { out: 'out_sample' },
  },
} as const;

export type GraphSpec = (typeof GRAPHS)[keyof typeof GRAPHS];

/** The sizes a bundle's graph dimensions resolve to. */
export type GraphSizes = Partial<Record<string, number>>;

export interface ResolvedInput {
  /** The network's argument name. */
  key: string;
  /** The graph's tensor name. */
  name: string;
  /** Dimensions after the batch axis. */
  tail: number[];
  dtype: 'float32' | 'int64';
  /** Token ids, a diffusion step / noise level, or plain values. */
  kind: 'ids' | 'step' | 'values';
  image: boolean;
}

/**
 * A graph's inputs at a bundle's sizes. An input with a dimension of size 0 (no text for a U-Net without
 * cross-attention) is left out; a symbol without a size is a bug in the caller.
 */
export function graphInputs(graph: GraphSpec, sizes: GraphSizes): ResolvedInput[] {
  const out: ResolvedInput[] = [];
  for (const [key, name] of Object.entries(graph.inputs) as [string, string][]) {
    const dims = (graph.dims as Record<string, readonly (string | number)[]>)[key];
    const tail = dims.slice(1).map((d) => {
      const v = typeof d === 'number' ? d : sizes[d];
      if (v === undefined) throw new Error(`graph input ${name}: no size for dimension '${d}'`);
      return v;
    });
    if (tail.includes(0)) continue;
    const kind = ('kinds' in graph ? (graph.kinds as Record<string, 'ids' | 'step'>)[key] : undefined) ?? 'values';
    out.push({ key, name, tail, dtype: kind === 'ids' ? 'int64' : 'float32', kind, image: kind === 'values' && dims.length === 4 });
  }
  return out;
}
