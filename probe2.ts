import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { initTrainingBackend } from './trainer/tfjs/backend.ts';
import { ParamStore } from './trainer/tfjs/params.ts';
import { networkCases, toTensors, randomizeWeights, nhwcToNchw } from './test/support/tiny-networks.ts';
await initTrainingBackend('wasm');
for (const c of networkCases()) {
  const store = new ParamStore(c.name, 1);
  c.forward(store, toTensors(c.inputs));
  const weights = randomizeWeights(store, 7);
  const ref = c.forward(store, toTensors(c.inputs));
  const bytes = c.exportOnnx(weights);
  const sess = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(c.inputs)) {
    if (v.data instanceof Int32Array) feeds[k] = new ort.Tensor('int64', BigInt64Array.from(v.data, BigInt), v.shape);
    else if (v.image) { const [n,h,w,ch] = v.shape; feeds[k] = new ort.Tensor('float32', nhwcToNchw(v.data, v.shape), [n,ch,h,w]); }
    else feeds[k] = new ort.Tensor('float32', v.data as Float32Array, v.shape);
  }
  const res = await sess.run(feeds);
  for (const [k, t] of Object.entries(ref)) {
    const r = t.dataSync(); const expected = t.rank === 4 ? nhwcToNchw(r, t.shape) : r;
    const got = res[k].data as Float32Array;
    let err = 0, sc = 0; for (let i = 0; i < got.length; i++) { err = Math.max(err, Math.abs(got[i]-expected[i])); sc = Math.max(sc, Math.abs(expected[i])); }
    console.log(c.name, k, 'bytes', bytes.length, 'maxerr', err.toExponential(2), 'scale', sc.toFixed(3), 'rel', (err/sc).toExponential(2), res[k].dims.join('x'));
  }
}
