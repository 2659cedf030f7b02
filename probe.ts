import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from './trainer/tfjs/backend.ts';
import '@tensorflow/tfjs-backend-cpu';
const b = await initTrainingBackend();
console.log(b);
async function cmp(label: string, f: () => tf.Tensor) {
  await tf.setBackend('wasm'); const a = await f().data();
  await tf.setBackend('cpu'); const c = await f().data();
  let err = 0, sc = 0; for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i]-c[i])); sc = Math.max(sc, Math.abs(c[i])); }
  console.log(label, 'maxerr', err.toExponential(2), 'scale', sc.toFixed(3), a.length === c.length);
}
const xs = Array.from(tf.randomNormal([3, 9, 10, 4], 0, 1, 'float32', 1).dataSync());
const ws = Array.from(tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 2).dataSync());
for (const [stride, pad] of [[1,'same'],[2,'same'],[2,'valid'],[1,'valid'],[2,[[0,0],[0,1],[0,1],[0,0]]],[3,'same']] as const) {
  await cmp(`filter s=${stride} pad=${JSON.stringify(pad)}`, () => tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(tf.tensor4d(xs,[3,9,10,4]), w as tf.Tensor4D, stride, pad as any))))(tf.tensor4d(ws,[3,3,4,5])));
  await cmp(`input  s=${stride} pad=${JSON.stringify(pad)}`, () => tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, tf.tensor4d(ws,[3,3,4,5]), stride, pad as any))))(tf.tensor4d(xs,[3,9,10,4])));
}
await cmp('gather', () => tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor2d([[1,2,2],[0,5,1]],[2,3],'int32')))))(tf.tensor2d(xs.slice(0,24),[6,4])));
await cmp('mmT', () => tf.matMul(tf.tensor3d(xs.slice(0,60),[3,4,5]), tf.tensor3d(ws.slice(0,90),[3,6,5]), false, true));
await cmp('mmTA', () => tf.matMul(tf.tensor3d(xs.slice(0,60),[3,5,4]), tf.tensor3d(ws.slice(0,90),[3,5,6]), true, false));
