import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { filterFromOihw, filterToOihw, type WeightMap } from '../../models/nn/weights.ts';
import type { StoredTensor } from '../checkpoint.ts';
import { ADAM, emaDecayAt, type EngineSettings, type TrainingEngine } from '../engine.ts';
import { objectiveParams, type Feeds, type Objective, type ParamSpec } from '../objective.ts';
import { initialValues } from '../param-init.ts';
import { nchwcBlockSize } from './nchwc.ts';
import { buildTrainGraph, paramInputName, storedShape, type TrainGraphOptions } from './train-graph.ts';

export interface OrtEngineOptions extends TrainGraphOptions {
  /** onnxruntime intra-op threads; default: every core (`availableParallelism()`). */
  threads?: number;
  /** Default: this machine's `nchwcBlockSize()`, so convs run on onnxruntime's blocked kernels where it has them. */
  nchwcBlock?: number;
}

const KINDS = ['param', 'adam_m', 'adam_v', 'ema'] as const;
/** Declared layout (checkpoints, weights) ↔ the engine's stored layout (conv filters [cout, cin, kh, kw]). */
const toStored = (p: ParamSpec, data: Float32Array) => (p.filter ? filterToOihw(data, p.shape) : data);
const fromStored = (p: ParamSpec, data: Float32Array) => (p.filter ? filterFromOihw(data, p.shape) : data.slice());
type Kind = (typeof KINDS)[number];

/** The objective's data as onnxruntime feeds: token ids widen to int64. */
export function ortFeeds(objective: Objective, feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, spec] of Object.entries(objective.inputs)) {
    const data = feeds[name];
    if (!data) throw new Error(`objective ${objective.name}: batch has no input '${name}'`);
    out[name] =
      spec.dtype === 'int32'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(data, (x) => BigInt(x)),
            spec.shape,
          )
        : new ort.Tensor('float32', data as Float32Array, spec.shape);
  }
  return out;
}

/**
 * The native-speed engine: the objective's forward pass, reverse-mode gradients, clipping, AdamW and the
 * EMA as one ONNX graph, one `session.run` per step on onnxruntime-node's CPU kernels on every core. The
 * state lives in flat Float32Arrays here, fed in and taken back each step.
 */
export async function createOrtEngine(
  objective: Objective,
  settings: EngineSettings,
  options: OrtEngineOptions = {},
): Promise<TrainingEngine & { params: ParamSpec[]; gradient(key: string): Float32Array }> {
  const params = objectiveParams(objective);
  const total = params.reduce((s, p) => s + p.size, 0);
  const bytes = buildTrainGraph(
    objective,
    params,
    { ...settings, ...ADAM },
    { ...options, nchwcBlock: options.nchwcBlock ?? (await nchwcBlockSize()) },
  );
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: options.threads ?? availableParallelism(),
    interOpNumThreads: 1,
    extra: { session: { set_denormal_as_zero: '1' } },
    enableProfiling: !!process.env.ORT_PROFILE,
    profileFilePrefix: '/tmp/ortprof',
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const state: Record<Kind, Float32Array> = {
    param: new Float32Array(total),
    adam_m: new Float32Array(total),
    adam_v: new Float32Array(total),
    ema: new Float32Array(total),
  };
  for (const p of params) state.param.set(toStored(p, initialValues(p.name, p.shape, p.init, settings.seed)), p.offset);
  state.ema.set(state.param);
  const hasEma = settings.emaDecay !== undefined;
  const kinds = KINDS.filter((k) => k !== 'ema' || hasEma);
  const scalar = (x: number) => new ort.Tensor('float32', Float32Array.of(x), []);

  const engine = {
    name: 'ort',
    hasEma,
    params,
    lastGradients: undefined as Float32Array | undefined,
    /** The last step's raw gradient of one parameter, in its declared layout (with `exposeGradients`). */
    gradient(key: string) {
      const p = params.find((q) => q.key === key);
      if (!p || !engine.lastGradients) throw new Error(`no gradient for ${key}: unknown parameter, or exposeGradients was off`);
      return fromStored(p, engine.lastGradients.subarray(p.offset, p.offset + p.size));
    },
    async step(step: number, lr: number) {
      const t = step + 1;
      const feeds: Record<string, ort.Tensor> = {
        ...ortFeeds(objective, objective.batch(step)),
        adam_m: new ort.Tensor('float32', state.adam_m, [total]),
        adam_v: new ort.Tensor('float32', state.adam_v, [total]),
        lr: scalar(lr),
        c1: scalar(1 / (1 - ADAM.beta1 ** t)),
        c2: scalar(1 / (1 - ADAM.beta2 ** t)),
      };
      if (hasEma) {
        feeds.ema = new ort.Tensor('float32', state.ema, [total]);
        feeds.ema_decay = scalar(emaDecayAt(settings.emaDecay!, t));
      }
      for (const p of params)
        feeds[paramInputName(p.key)] = new ort.Tensor('float32', state.param.subarray(p.offset, p.offset + p.size), storedShape(p));
      const out = await session.run(feeds);
      const loss = (out.loss.data as Float32Array)[0];
      if (options.exposeGradients) engine.lastGradients = out.grads.data as Float32Array;
      if (Number.isFinite(loss)) {
        state.param = out.params_out.data as Float32Array;
        state.adam_m = out.adam_m_out.data as Float32Array;
        state.adam_v = out.adam_v_out.data as Float32Array;
        if (hasEma) state.ema = out.ema_out.data as Float32Array;
      }
      return loss;
    },
    checkpointTensors() {
      const tensors = new Map<string, StoredTensor>();
      for (const p of params)
        for (const k of kinds)
          tensors.set(`${k}:${p.key}`, { shape: p.shape, data: fromStored(p, state[k].subarray(p.offset, p.offset + p.size)) });
      return tensors;
    },
    restore(tensors: Map<string, StoredTensor>, source: string) {
      for (const p of params)
        for (const k of kinds) {
          const tensor = tensors.get(`${k}:${p.key}`);
          if (!tensor || tensor.data.length !== p.size)
            throw new Error(`checkpoint ${source} has no ${k}:${p.key} of shape [${p.shape}]; was it made by another config?`);
          state[k].set(toStored(p, tensor.data), p.offset);
        }
    },
    weights(network: string, which: 'param' | 'ema') {
      const from = which === 'ema' && hasEma ? state.ema : state.param;
      const out: WeightMap = new Map();
      for (const p of params)
        if (p.network === network) out.set(p.name, { shape: p.shape, data: fromStored(p, from.subarray(p.offset, p.offset + p.size)) });
      return out;
    },
    dispose() {
      void session.release();
    },
  };
  return engine;
}
