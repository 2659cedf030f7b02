import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../models/diffusion/rng.ts';
import type { Ops } from '../../models/nn/ops.ts';
import type { StoredTensor } from '../../trainer/checkpoint.ts';
import type { Feeds, Objective } from '../../trainer/objective.ts';
import { createOrtEngine } from '../../trainer/ort/engine.ts';
import { initTrainingBackend } from '../../trainer/tfjs/backend.ts';
import { tfjsFeeds } from '../../trainer/tfjs/engine.ts';
import { tfjsOps } from '../../trainer/tfjs/ops.ts';
import { ParamStore } from '../../trainer/tfjs/params.ts';
import { relL2 } from '../support/rel-l2.ts';
import { networkCases, randomizeWeights } from '../support/tiny-networks.ts';

/** A network case as an objective: MSE of every output against a fixed random target. */
function caseObjective(c: ReturnType<typeof networkCases>[number], outputShapes: Record<string, number[]>): Objective {
  const inputs: Objective['inputs'] = {};
  const feeds: Feeds = {};
  for (const [name, v] of Object.entries(c.inputs)) {
    inputs[name] = { shape: v.shape, dtype: v.data instanceof Int32Array ? 'int32' : 'float32', image: v.image };
    feeds[name] = v.data;
  }
  Object.entries(outputShapes).forEach(([name, shape], k) => {
    inputs[`target_${name}`] = { shape, dtype: 'float32', image: shape.length === 4 };
    feeds[`target_${name}`] = createRng(100 + k).fill(shape.reduce((a, b) => a * b, 1));
  });
  return {
    name: c.name,
    inputs,
    loss<T>(net: (n: string) => Ops<T>, x: Record<string, T>) {
      const ops = net(c.name);
      const outs = c.run(ops, x);
      return Object.keys(outputShapes)
        .map((name) => {
          const d = ops.sub(outs[name], x[`target_${name}`]);
          return ops.meanAll(ops.mul(d, d));
        })
        .reduce((a, b) => ops.add(a, b));
    },
    batch: () => feeds,
  };
}

describe('the ONNX training graph differentiates every network as tfjs does', () => {
  beforeAll(async () => {
    await initTrainingBackend('cpu');
  });

  for (const c of networkCases(2)) {
    it(c.name, async () => {
      const store = new ParamStore(c.name, 1);
      const outputs = tf.tidy(() =>
        c.forward(
          store,
          Object.fromEntries(
            Object.entries(c.inputs).map(([k, v]) => [k, tf.tensor(v.data, v.shape, v.data instanceof Int32Array ? 'int32' : 'float32')]),
          ),
        ),
      );
      const outputShapes = Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, t.shape]));
      tf.dispose(Object.values(outputs));
      const weights = randomizeWeights(store, 7);
      const objective = caseObjective(c, outputShapes);

      const { value, grads } = tf.variableGrads(
        () => objective.loss(() => tfjsOps(store), tfjsFeeds(objective, objective.batch(0))) as tf.Scalar,
      );
      const expected = {
        loss: value.dataSync()[0],
        grads: new Map([...store.variables].map(([name, v]) => [name, grads[v.name].dataSync() as Float32Array])),
      };
      tf.dispose([value, ...Object.values(grads)]);

      const engine = await createOrtEngine(objective, { seed: 1, weightDecay: 0, clipNorm: 1 }, { exposeGradients: true, threads: 2 });
      const tensors = new Map<string, StoredTensor>();
      for (const [name, w] of weights) {
        tensors.set(`param:${c.name}/${name}`, w);
        tensors.set(`adam_m:${c.name}/${name}`, { shape: w.shape, data: new Float32Array(w.data.length) });
        tensors.set(`adam_v:${c.name}/${name}`, { shape: w.shape, data: new Float32Array(w.data.length) });
      }
      engine.restore(tensors, 'test');
      const loss = await engine.step(0, 0);
      expect(Math.abs(loss - expected.loss) / expected.loss).toBeLessThan(1e-5);
      expect(engine.params.length).toBe(store.variables.size);
      for (const p of engine.params) {
        const got = engine.gradient(p.key);
        const want = expected.grads.get(p.name)!;
        expect(relL2(got, want), p.name).toBeLessThan(1e-4);
      }
      engine.dispose();
      store.dispose();
    });
  }
});
