import * as tf from '@tensorflow/tfjs-core';
import type { Ops } from '../../models/nn/ops.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import type { StoredTensor } from '../checkpoint.ts';
import { ADAM, emaDecayAt, type EngineSettings, type TrainingEngine } from '../engine.ts';
import type { Feeds, Objective } from '../objective.ts';
import { tfjsOps } from './ops.ts';
import { ParamStore } from './params.ts';

interface Slot {
  key: string;
  variable: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  ema?: tf.Variable;
}

/** The objective's data as tfjs tensors (images NHWC, ids int32), inside the caller's tidy scope. */
export function tfjsFeeds(objective: Objective, feeds: Feeds): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(objective.inputs).map(([name, spec]) => [name, tf.tensor(feeds[name], spec.shape, spec.dtype)]));
}

/**
 * The tfjs engine: eager execution and tfjs's gradients on whichever tfjs back end is active (tfjs-node-gpu
 * on CUDA, wasm, cpu). It is the GPU path where tfjs-node-gpu installs and the gradient reference in tests.
 */
export async function createTfjsEngine(
  objective: Objective,
  settings: EngineSettings,
): Promise<TrainingEngine & { stores: Map<string, ParamStore> }> {
  const stores = new Map<string, ParamStore>();
  const net = (network: string): Ops<tf.Tensor> => {
    let store = stores.get(network);
    if (!store) {
      store = new ParamStore(network, settings.seed);
      stores.set(network, store);
    }
    return tfjsOps(store);
  };
  const loss = (step: number) => objective.loss(net, tfjsFeeds(objective, objective.batch(step))) as tf.Scalar;
  // Networks create their parameters on first use: one forward pass makes every variable exist.
  tf.dispose(tf.tidy(() => loss(0)));
  const slots: Slot[] = [];
  for (const store of stores.values())
    for (const [name, variable] of store.variables)
      slots.push({
        key: `${store.prefix}/${name}`,
        variable,
        m: tf.variable(tf.zerosLike(variable), false),
        v: tf.variable(tf.zerosLike(variable), false),
        ema: settings.emaDecay !== undefined ? tf.variable(variable.clone(), false) : undefined,
      });
  const kinds = (s: Slot): [string, tf.Variable | undefined][] => [
    ['param', s.variable],
    ['adam_m', s.m],
    ['adam_v', s.v],
    ['ema', s.ema],
  ];
  const { beta1: b1, beta2: b2, epsilon: eps } = ADAM;
  const wd = settings.weightDecay;

  return {
    name: 'tfjs',
    hasEma: settings.emaDecay !== undefined,
    stores,
    async step(step, lr) {
      const t = step + 1;
      return tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => loss(step),
          slots.map((s) => s.variable),
        );
        const gs = slots.map((s) => grads[s.variable.name]);
        const norm = Math.sqrt(gs.reduce((acc, g) => acc + tf.sum(tf.square(g)).dataSync()[0], 0));
        const scale = norm > settings.clipNorm ? settings.clipNorm / norm : 1;
        const c1 = 1 / (1 - b1 ** t);
        const c2 = 1 / (1 - b2 ** t);
        const d = settings.emaDecay !== undefined ? emaDecayAt(settings.emaDecay, t) : 0;
        slots.forEach((s, i) => {
          const g = tf.mul(gs[i], scale);
          s.m.assign(tf.add(tf.mul(s.m, b1), tf.mul(g, 1 - b1)));
          s.v.assign(tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2)));
          const update = tf.div(tf.mul(s.m, c1), tf.add(tf.sqrt(tf.mul(s.v, c2)), eps));
          const decay = wd > 0 && s.variable.rank > 1 ? tf.mul(s.variable, wd) : tf.scalar(0);
          s.variable.assign(tf.sub(s.variable, tf.mul(tf.add(update, decay), lr)));
          if (s.ema) s.ema.assign(tf.add(tf.mul(s.ema, d), tf.mul(s.variable, 1 - d)));
        });
        return value.dataSync()[0];
      });
    },
    checkpointTensors() {
      const tensors = new Map<string, StoredTensor>();
      for (const s of slots)
        for (const [k, v] of kinds(s)) if (v) tensors.set(`${k}:${s.key}`, { shape: [...v.shape], data: v.dataSync() as Float32Array });
      return tensors;
    },
    restore(tensors, source) {
      for (const s of slots)
        for (const [k, v] of kinds(s)) {
          if (!v) continue;
          const t = tensors.get(`${k}:${s.key}`);
          if (!t) throw new Error(`checkpoint ${source} has no ${k}:${s.key}; was it made by another config?`);
          v.assign(tf.tensor(t.data, t.shape));
        }
    },
    weights(network, which) {
      const out: WeightMap = new Map();
      for (const s of slots) {
        const [prefix, ...rest] = s.key.split('/');
        if (prefix !== network) continue;
        const v = which === 'ema' && s.ema ? s.ema : s.variable;
        out.set(rest.join('/'), { shape: [...v.shape], data: v.dataSync() as Float32Array });
      }
      return out;
    },
    dispose() {
      for (const s of slots) [s.m, s.v, s.ema].forEach((v) => v?.dispose());
      for (const store of stores.values()) store.dispose();
    },
  };
}
