import { OnnxGraph } from '../onnx/graph.ts';
import { encodeModel } from '../onnx/writer.ts';
import { COEFFICIENTS, DEVICE_COPY, SAMPLER_STEP } from './sampler-graph.ts';

/**
 * model_output [calls, C, H, W] (the unconditional half first when calls = 2·batch; just the conditional one
 * when calls = batch, which guidance 1 needs), sample, x0_prev and noise [batch, C, H, W], coefficients [10]
 * → prev_sample, pred_original_sample, next_sample (prev_sample repeated calls/batch times: the next
 * network input), and prev/x0 latents (÷ scale + shift: the VAE decoder's input).
 */
export function samplerStepGraph(): Uint8Array {
  const g = new OnnxGraph('sampler_step');
  const io = SAMPLER_STEP.inputs;
  const image = (batch: string) => [batch, 'channels', 'height', 'width'];
  const out = g.addInput({ name: io.out, dtype: 'float32', dims: image('calls') });
  const [sample, x0Prev, noise] = [io.sample, io.x0Prev, io.noise].map((name) =>
    g.addInput({ name, dtype: 'float32', dims: image('batch') }),
  );
  const coefficients = g.addInput({ name: io.coefficients, dtype: 'float32', dims: [COEFFICIENTS.length] });

  const op = (type: string, ...inputs: string[]) => g.node(type, inputs)[0];
  const c = (name: (typeof COEFFICIENTS)[number]) =>
    g.node('Gather', [coefficients, g.int64Initializer(name, [COEFFICIENTS.indexOf(name)], true)], { axis: { i: 0 } })[0];
  const constant = (value: number) => g.floatInitializer('const', [], Float32Array.of(value));
  const perItem = (v: string) => g.node('ReduceMean', [v], { axes: { ints: [1, 2, 3] }, keepdims: { i: 1 } })[0];
  const std = (v: string) => {
    const d = op('Sub', v, perItem(v));
    return op('Sqrt', perItem(op('Mul', d, d)));
  };
  const linear = (terms: [string, string][]) => terms.map(([k, v]) => op('Mul', k, v)).reduce((a, b) => op('Add', a, b));

  // The halves: conditional = the last `batch` items, unconditional = the first (the same ones when calls = batch).
  const calls = g.node('Shape', [out], { start: { i: 0 }, end: { i: 1 } })[0];
  const batch = g.node('Shape', [sample], { start: { i: 0 }, end: { i: 1 } })[0];
  const axis0 = g.int64Initializer('axis0', [0]);
  const cond = op('Slice', out, op('Sub', calls, batch), calls, axis0);
  const uncond = op('Slice', out, g.int64Initializer('zero', [0]), batch, axis0);
  // cond + (s − 1)(cond − uncond), then φ·guided·std(cond)/std(guided) + (1 − φ)·guided, per item.
  const guided = op('Add', cond, op('Mul', op('Sub', c('guidance'), constant(1)), op('Sub', cond, uncond)));
  const factor = op('Div', std(cond), op('Max', std(guided), constant(1e-12)));
  const rescale = c('rescale');
  const m = op('Add', op('Mul', rescale, op('Mul', guided, factor)), op('Mul', op('Sub', constant(1), rescale), guided));

  const x0 = linear([
    [c('x0.x'), sample],
    [c('x0.m'), m],
  ]);
  const prev = linear([
    [c('prev.x'), sample],
    [c('prev.m'), m],
    [c('prev.x0Prev'), x0Prev],
    [c('prev.noise'), noise],
  ]);
  const repeats = g.node('Concat', [op('Div', calls, batch), g.int64Initializer('ones', [1, 1, 1])], { axis: { i: 0 } })[0];
  const toVae = (v: string) => op('Add', op('Mul', v, c('vaeScale')), c('vaeShift'));

  const o = SAMPLER_STEP.outputs;
  g.addOutput(prev, { name: o.prev, dtype: 'float32', dims: image('batch') });
  g.addOutput(x0, { name: o.x0, dtype: 'float32', dims: image('batch') });
  g.addOutput(op('Tile', prev, repeats), { name: o.nextSample, dtype: 'float32', dims: image('calls') });
  g.addOutput(toVae(prev), { name: o.prevLatents, dtype: 'float32', dims: image('batch') });
  g.addOutput(toVae(x0), { name: o.x0Latents, dtype: 'float32', dims: image('batch') });
  return encodeModel(g);
}

/** value → copy, unchanged: run once with a CPU tensor, it leaves the value on the session's device (text states). */
export function deviceCopyGraph(rank: number): Uint8Array {
  const g = new OnnxGraph('device_copy');
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  const value = g.addInput({ name: DEVICE_COPY.inputs.value, dtype: 'float32', dims });
  g.addOutput(value, { name: DEVICE_COPY.outputs.copy, dtype: 'float32', dims });
  return encodeModel(g);
}
