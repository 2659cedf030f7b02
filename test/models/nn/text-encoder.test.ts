import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { textEncoder } from '../../../models/nn/text-encoder.ts';
import { initTrainingBackend } from '../../../trainer/tfjs/backend.ts';
import { tfjsOps } from '../../../trainer/tfjs/ops.ts';
import { ParamStore } from '../../../trainer/tfjs/params.ts';
import { randomizeWeights, TINY } from '../../support/tiny-networks.ts';

const T = TINY.text.maxLength;
const PAD = TINY.text.padId;
/** <bos>=1, four words, <eos>=3, padding; `last` replaces the final word. */
const ids = (last: number) => [1, 10, 11, 12, last, 3, PAD, PAD];

let stores = 0;
function encoder(causal: boolean) {
  const store = new ParamStore(`text-${stores++}`, 1);
  const cfg = { ...TINY.text, causal };
  const run = (rows: number[][]) => textEncoder(tfjsOps(store), cfg, tf.tensor2d(rows, [rows.length, T], 'int32'));
  run([ids(20)]);
  store.load(randomizeWeights(store, 3));
  return { store, run };
}

/** Largest absolute difference between two rows' states at positions [from, to). */
function stateChange(hidden: tf.Tensor, from: number, to: number): number {
  const [a, b] = tf.unstack(hidden.slice([0, from, 0], [2, to - from, -1]));
  return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
}

describe('text encoder, causal', () => {
  beforeAll(() => initTrainingBackend('cpu'));

  it("a later word leaves every earlier token's state as it was; without `causal` it changes them all", () => {
    const causal = encoder(true).run([ids(20), ids(30)]).hidden;
    expect(stateChange(causal, 0, 4)).toBeLessThan(1e-6);
    expect(stateChange(causal, 4, 6)).toBeGreaterThan(1e-2);
    const full = encoder(false).run([ids(20), ids(30)]).hidden;
    expect(stateChange(full, 0, 4)).toBeGreaterThan(1e-2);
  });

  it('the CLIP embedding is the projection of the last real token (<eos>), in prompts of different lengths', () => {
    const { store, run } = encoder(true);
    const short = [1, 10, 11, 3, PAD, PAD, PAD, PAD];
    const { hidden, pooled } = run([ids(20), short]);
    const projection = store.variables.get('text_projection.weight')!;
    for (const [row, eos] of [
      [0, 5],
      [1, 3],
    ]) {
      const expected = tf.matMul(hidden.slice([row, eos, 0], [1, 1, -1]).reshape([1, -1]), projection);
      const got = pooled.slice([row, 0], [1, -1]);
      expect(tf.max(tf.abs(tf.sub(expected, got))).dataSync()[0]).toBeLessThan(1e-5);
    }
  });
});
