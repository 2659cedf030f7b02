/**
 * Every graph of a bundle: its file and its tensor names (diffusers' names), declared once. The exporter
 * names the graph's tensors from here; the runtimes (onnxruntime-node and -web, the edge), the trainer's
 * export check and its stage inference feed and read them from here. Keys are the network definitions'
 * argument and result names.
 */
export const GRAPHS = {
  textEncoder: {
    file: 'text_encoder/model.onnx',
    inputs: { ids: 'input_ids' },
    outputs: { hidden: 'last_hidden_state', pooled: 'text_embeds' },
  },
  imageEncoder: { file: 'image_encoder/model.onnx', inputs: { pixels: 'pixel_values' }, outputs: { embeds: 'image_embeds' } },
  vaeEncoder: { file: 'vae_encoder/model.onnx', inputs: { image: 'sample' }, outputs: { mean: 'latent_mean', logvar: 'latent_logvar' } },
  vaeDecoder: { file: 'vae_decoder/model.onnx', inputs: { latents: 'latent_sample' }, outputs: { image: 'sample' } },
  unet: {
    file: 'unet/model.onnx',
    inputs: { sample: 'sample', timestep: 'timestep', context: 'encoder_hidden_states' },
    outputs: { out: 'out_sample' },
  },
  upscaler: {
    file: 'upscaler/model.onnx',
    inputs: { sample: 'sample', timestep: 'timestep', lowRes: 'low_res', noiseLevel: 'noise_level' },
    outputs: { out: 'out_sample' },
  },
} as const;
