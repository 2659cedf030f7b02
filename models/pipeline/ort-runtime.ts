import { GRAPHS, type GraphSpec } from '../bundle/graphs.ts';
import type { PromptTokenizer } from '../text/tokenizer.ts';
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
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensorLike;
    new (type: 'int64', data: BigInt64Array, dims: readonly number[]): OrtTensorLike;
  };
}

/**
 * What each platform's session module provides (onnxruntime-node from disk or the edge's files, onnxruntime-web
 * on WebGPU or WASM in the page, onnxruntime-web in workerd): one session per bundle file, created once, on the
 * device the module chose.
 */
export interface SessionProvider {
  readonly device: string;
  session(file: string): Promise<OrtSessionLike>;
}

export interface BundleSessions {
  unet: OrtSessionLike;
  vaeDecoder: OrtSessionLike;
  vaeEncoder?: OrtSessionLike;
  upscaler?: OrtSessionLike;
}

/** A DiffusionRuntime on onnxruntime sessions of a bundle's graphs (tensor names from GRAPHS). */
export function ortRuntime(ort: OrtModuleLike, s: BundleSessions): DiffusionRuntime {
  const out = (t: OrtTensorLike): Tensor => ({ data: t.data as Float32Array, dims: [...t.dims] });
  // Every input a call carries, under its graph name; a per-item vector (timesteps, noise levels) is 1-D.
  const feeds = (graph: GraphSpec, inputs: Partial<Record<string, Tensor | Float32Array>>) =>
    Object.fromEntries(
      Object.entries(graph.inputs).flatMap(([key, name]) => {
        const v = inputs[key];
        if (v === undefined) return [];
        return [[name, v instanceof Float32Array ? new ort.Tensor('float32', v, [v.length]) : new ort.Tensor('float32', v.data, v.dims)]];
      }),
    );
  const call = async (session: OrtSessionLike, graph: GraphSpec, inputs: Partial<Record<string, Tensor | Float32Array>>, output: string) =>
    out((await session.run(feeds(graph, inputs)))[output]);
  const { unet, vaeDecoder, vaeEncoder, upscaler } = s;
  return {
    unet: (inputs) => call(unet, GRAPHS.unet, { ...inputs }, GRAPHS.unet.outputs.out),
    decode: (latents) => call(vaeDecoder, GRAPHS.vaeDecoder, { latents }, GRAPHS.vaeDecoder.outputs.image),
    encode: vaeEncoder && ((image) => call(vaeEncoder, GRAPHS.vaeEncoder, { image }, GRAPHS.vaeEncoder.outputs.mean)),
    upscale: upscaler && ((inputs) => call(upscaler, GRAPHS.upscaler, { ...inputs }, GRAPHS.upscaler.outputs.out)),
  };
}

/**
 * A bundle's DiffusionRuntime from a platform's sessions: the U-Net and VAE decoder always, the VAE encoder and
 * the upscaler when the bundle has them and the caller needs them (the page creates those on first use).
 */
export async function bundleRuntime(
  ort: OrtModuleLike,
  files: Record<string, unknown>,
  sessions: SessionProvider,
  needs: { encoder?: boolean; upscaler?: boolean } = { encoder: true, upscaler: true },
): Promise<DiffusionRuntime> {
  const optional = async (file: string, wanted?: boolean) => (wanted && files[file] ? sessions.session(file) : undefined);
  const [unet, vaeDecoder, vaeEncoder, upscaler] = await Promise.all([
    sessions.session(GRAPHS.unet.file),
    sessions.session(GRAPHS.vaeDecoder.file),
    optional(GRAPHS.vaeEncoder.file, needs.encoder),
    optional(GRAPHS.upscaler.file, needs.upscaler),
  ]);
  return ortRuntime(ort, { unet, vaeDecoder, vaeEncoder, upscaler });
}

/** Rows of a [n, P] output, each scaled to unit length (what retrieval and similarity compare). */
function unitRows(data: Float32Array, n: number): Float32Array[] {
  const P = data.length / n;
  return Array.from({ length: n }, (_, i) => {
    const v = data.slice(i * P, (i + 1) * P);
    const norm = Math.hypot(...v) || 1;
    return v.map((x) => x / norm);
  });
}

/**
 * The text encoder on prompts: per-token hidden states [n, T, D] (the diffusion condition) and each prompt's
 * pooled CLIP embedding, L2-normalised.
 */
export async function encodeText(
  ort: OrtModuleLike,
  sessions: SessionProvider,
  tokenizer: PromptTokenizer,
  prompts: string[],
): Promise<{ hidden: Tensor; embeds: Float32Array[] }> {
  const g = GRAPHS.textEncoder;
  const ids = BigInt64Array.from(tokenizer.encodeBatch(prompts), (id) => BigInt(id));
  const out = await (await sessions.session(g.file)).run({
    [g.inputs.ids]: new ort.Tensor('int64', ids, [prompts.length, tokenizer.maxLength]),
  });
  const h = out[g.outputs.hidden];
  return {
    hidden: { data: h.data as Float32Array, dims: [...h.dims] },
    embeds: unitRows(out[g.outputs.pooled].data as Float32Array, prompts.length),
  };
}

/** The CLIP image encoder on a batch [n, 3, H, W]: each image's embedding, L2-normalised. */
export async function embedImages(ort: OrtModuleLike, sessions: SessionProvider, images: Tensor): Promise<Float32Array[]> {
  const g = GRAPHS.imageEncoder;
  const out = await (await sessions.session(g.file)).run({ [g.inputs.pixels]: new ort.Tensor('float32', images.data, images.dims) });
  return unitRows(out[g.outputs.embeds].data as Float32Array, images.dims[0]);
}
