import { GRAPHS, type GraphSpec } from '../bundle/graphs.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { PromptTokenizer } from '../text/tokenizer.ts';
import { concatBatch } from './layout.ts';
import type { DiffusionRuntime, ResidentRun, ResidentStart, Tensor } from './runtime.ts';
import { DEVICE_COPY, SAMPLER_STEP } from './sampler-graph.ts';

/** The slice of onnxruntime's API (node and web share it) that the pipeline uses. */
export interface OrtTensorLike {
  /** Only for a tensor on the CPU; onnxruntime-web throws for one left on the GPU (`getData` reads it back). */
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly location?: string;
  getData?(): Promise<unknown>;
  dispose?(): void;
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
  /**
   * A session for a graph built here rather than downloaded (`sampler-graph.ts`), created once per name. Offered
   * where outputs stay on the device (WebGPU): the runtime then keeps the sampler loop there.
   */
  built?(name: string, bytes: () => Promise<Uint8Array>): Promise<OrtSessionLike>;
}

export interface BundleSessions {
  unet: OrtSessionLike;
  vaeDecoder: OrtSessionLike;
  vaeEncoder?: OrtSessionLike;
  upscaler?: OrtSessionLike;
  /** The sampler-step graph's session and the device-copy graph's for a rank: with them the runtime offers `resident`. */
  resident?: { step: OrtSessionLike; copy: (rank: number) => Promise<OrtSessionLike> };
}

const onDevice = (t: OrtTensorLike) => t.location === 'gpu-buffer';

/** A DiffusionRuntime on onnxruntime sessions of a bundle's graphs (tensor names from GRAPHS). */
export function ortRuntime(ort: OrtModuleLike, s: BundleSessions): DiffusionRuntime {
  let reads = 0;
  // Every output the runtime hands out goes through here, so `reads` counts every transfer off the device.
  const read = async (t: OrtTensorLike): Promise<Tensor> => {
    if (!onDevice(t)) return { data: t.data as Float32Array, dims: [...t.dims] };
    reads++;
    const data = (await t.getData!()) as Float32Array;
    return { data, dims: [...t.dims] };
  };
  const release = (...ts: (OrtTensorLike | undefined)[]) => {
    for (const t of ts) if (t && onDevice(t)) t.dispose?.();
  };
  // Every input a call carries, under its graph name; a per-item vector (timesteps, noise levels) is 1-D.
  const feeds = (graph: GraphSpec, inputs: Partial<Record<string, Tensor | Float32Array>>) =>
    Object.fromEntries(
      Object.entries(graph.inputs).flatMap(([key, name]) => {
        const v = inputs[key];
        if (v === undefined) return [];
        return [[name, v instanceof Float32Array ? new ort.Tensor('float32', v, [v.length]) : new ort.Tensor('float32', v.data, v.dims)]];
      }),
    );
  // One run whose one output is read and whose device outputs are all released, even when the read fails.
  const runAndRead = async (session: OrtSessionLike, inputs: Record<string, OrtTensorLike>, output: string) => {
    const outputs = await session.run(inputs);
    try {
      return await read(outputs[output]);
    } finally {
      release(...Object.values(outputs));
    }
  };
  const call = (session: OrtSessionLike, graph: GraphSpec, inputs: Partial<Record<string, Tensor | Float32Array>>, output: string) =>
    runAndRead(session, feeds(graph, inputs), output);
  const { unet, vaeDecoder, vaeEncoder, upscaler, resident } = s;
  return {
    unet: (inputs) => call(unet, GRAPHS.unet, { ...inputs }, GRAPHS.unet.outputs.out),
    decode: (latents) => call(vaeDecoder, GRAPHS.vaeDecoder, { latents }, GRAPHS.vaeDecoder.outputs.image),
    encode: vaeEncoder && ((image) => call(vaeEncoder, GRAPHS.vaeEncoder, { image }, GRAPHS.vaeEncoder.outputs.mean)),
    upscale: upscaler && ((inputs) => call(upscaler, GRAPHS.upscaler, { ...inputs }, GRAPHS.upscaler.outputs.out)),
    resident: resident && ((start) => residentRun(ort, { unet, upscaler, vaeDecoder, ...resident }, start, { read, release, runAndRead })),
    deviceReads: () => reads,
  };
}

/**
 * The sampler loop on the sessions' device: the network's output goes straight into the sampler-step graph,
 * whose outputs are the next network input, the next step's inputs and the decoder's; per step only the
 * timestep, the coefficients and any noise go up, and nothing comes down until a preview or the result is read.
 */
async function residentRun(
  ort: OrtModuleLike,
  s: BundleSessions & { step: OrtSessionLike; copy: (rank: number) => Promise<OrtSessionLike> },
  start: ResidentStart,
  device: {
    read: (t: OrtTensorLike) => Promise<Tensor>;
    release: (...ts: (OrtTensorLike | undefined)[]) => void;
    runAndRead: (session: OrtSessionLike, inputs: Record<string, OrtTensorLike>, output: string) => Promise<Tensor>;
  },
): Promise<ResidentRun> {
  const { read, release, runAndRead } = device;
  const { sample, guided } = start;
  const cpu = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);
  const calls = guided ? 2 * sample.dims[0] : sample.dims[0];
  // Conditions that stay the same every step go to the device once.
  const toDevice = async (t: Tensor) =>
    (await (await s.copy(t.dims.length)).run({ [DEVICE_COPY.inputs.value]: cpu(t.data, t.dims) }))[DEVICE_COPY.outputs.copy];
  const upscaling = 'lowRes' in start;
  if (upscaling && !s.upscaler) throw new InvalidArgumentError('upscaler', 'this runtime has no upscaler');
  const net = upscaling ? s.upscaler! : s.unet;
  const g = upscaling ? GRAPHS.upscaler : GRAPHS.unet;
  const conditions: Record<string, OrtTensorLike> = upscaling
    ? {
        [GRAPHS.upscaler.inputs.lowRes]: await toDevice(start.lowRes),
        [GRAPHS.upscaler.inputs.noiseLevel]: cpu(start.noiseLevel, [start.noiseLevel.length]),
      }
    : { [GRAPHS.unet.inputs.context]: await toDevice(start.context) };
  const zeros = cpu(new Float32Array(sample.data.length), sample.dims);
  const state: Record<'nextSample' | 'x' | 'x0' | 'prevLatents' | 'x0Latents', OrtTensorLike | undefined> = {
    nextSample: (({ data, dims }) => cpu(data, dims))(guided ? concatBatch(sample, sample) : sample),
    x: cpu(sample.data, sample.dims),
    x0: zeros,
    prevLatents: undefined,
    x0Latents: undefined,
  };
  const io = SAMPLER_STEP.inputs;
  const o = SAMPLER_STEP.outputs;
  const latents = (which: 'x0' | 'sample') => {
    const t = which === 'x0' ? state.x0Latents : state.prevLatents;
    if (!t) throw new InvalidArgumentError('which', `no ${which} before the first step`);
    return t;
  };
  return {
    async step(timestep, coefficients, noise) {
      const out = (
        await net.run({
          [g.inputs.sample]: state.nextSample!,
          [g.inputs.timestep]: cpu(new Float32Array(calls).fill(timestep), [calls]),
          ...conditions,
        })
      )[g.outputs.out];
      const next = await s.step.run({
        [io.out]: out,
        [io.sample]: state.x!,
        [io.x0Prev]: state.x0!,
        [io.noise]: noise ? cpu(noise, sample.dims) : zeros,
        [io.coefficients]: cpu(coefficients, [coefficients.length]),
      });
      release(out, state.nextSample, state.x, state.x0, state.prevLatents, state.x0Latents);
      Object.assign(state, {
        nextSample: next[o.nextSample],
        x: next[o.prev],
        x0: next[o.x0],
        prevLatents: next[o.prevLatents],
        x0Latents: next[o.x0Latents],
      });
    },
    decode: (which) => runAndRead(s.vaeDecoder, { [GRAPHS.vaeDecoder.inputs.latents]: latents(which) }, GRAPHS.vaeDecoder.outputs.image),
    read: () => read(latents('sample')),
    dispose() {
      release(...Object.values(conditions), ...Object.values(state));
    },
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
  const built = sessions.built?.bind(sessions);
  const [unet, vaeDecoder, vaeEncoder, upscaler, step] = await Promise.all([
    sessions.session(GRAPHS.unet.file),
    sessions.session(GRAPHS.vaeDecoder.file),
    optional(GRAPHS.vaeEncoder.file, needs.encoder),
    optional(GRAPHS.upscaler.file, needs.upscaler),
    // The graph builders (and the ONNX writer) load only where they are used.
    built?.('sampler_step', async () => (await import('./sampler-graph-onnx.ts')).samplerStepGraph()),
  ]);
  const copy = (rank: number) =>
    built!(`device_copy_${rank}d`, async () => (await import('./sampler-graph-onnx.ts')).deviceCopyGraph(rank));
  return ortRuntime(ort, { unet, vaeDecoder, vaeEncoder, upscaler, resident: step && { step, copy } });
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
