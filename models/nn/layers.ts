import type { Ops } from './ops.ts';

/** Building blocks shared by every network, each defined once in terms of the ops interface. */

export function dense<T>(
  ops: Ops<T>,
  name: string,
  x: T,
  inDim: number,
  outDim: number,
  options: { bias?: boolean; zeroInit?: boolean } = {},
): T {
  const w = ops.param(`${name}.weight`, [inDim, outDim], options.zeroInit ? { kind: 'zeros' } : { kind: 'fan-in', fanIn: inDim });
  const b = options.bias === false ? undefined : ops.param(`${name}.bias`, [outDim], { kind: 'zeros' });
  return ops.linear(x, w, b);
}

/** k×k convolution; stride 2 pads only bottom/right (as Stable Diffusion's downsampler) so sizes halve exactly. */
export function conv<T>(
  ops: Ops<T>,
  name: string,
  x: T,
  cin: number,
  cout: number,
  k: number,
  options: { stride?: number; zeroInit?: boolean } = {},
): T {
  const stride = options.stride ?? 1;
  const p = k >> 1;
  const pad: [number, number, number, number] = stride === 1 ? [p, p, p, p] : [0, k - stride, 0, k - stride];
  const w = ops.param(`${name}.weight`, [k, k, cin, cout], options.zeroInit ? { kind: 'zeros' } : { kind: 'fan-in', fanIn: cin * k * k });
  const b = ops.param(`${name}.bias`, [cout], { kind: 'zeros' });
  return ops.conv2d(x, w, b, { stride, pad });
}

export function groupNorm<T>(ops: Ops<T>, name: string, x: T, channels: number, groups: number): T {
  const gamma = ops.param(`${name}.weight`, [channels], { kind: 'ones' });
  const beta = ops.param(`${name}.bias`, [channels], { kind: 'zeros' });
  return ops.groupNorm(x, groups, gamma, beta, 1e-5);
}

export function layerNorm<T>(ops: Ops<T>, name: string, x: T, dim: number): T {
  const gamma = ops.param(`${name}.weight`, [dim], { kind: 'ones' });
  const beta = ops.param(`${name}.bias`, [dim], { kind: 'zeros' });
  return ops.layerNorm(x, gamma, beta, 1e-5);
}

/** Pre-activation residual block; `temb` (if given) is projected and added per channel. */
export function resBlock<T>(ops: Ops<T>, name: string, x: T, cin: number, cout: number, groups: number, temb?: { vec: T; dim: number }): T {
  let h = conv(ops, `${name}.conv1`, ops.silu(groupNorm(ops, `${name}.norm1`, x, cin, groups)), cin, cout, 3);
  if (temb) h = ops.addChannelVector(h, dense(ops, `${name}.time_emb_proj`, ops.silu(temb.vec), temb.dim, cout));
  // Zero-initialised last conv: every block starts as the identity, which keeps deep stacks trainable.
  h = conv(ops, `${name}.conv2`, ops.silu(groupNorm(ops, `${name}.norm2`, h, cout, groups)), cout, cout, 3, { zeroInit: true });
  const skip = cin === cout ? x : conv(ops, `${name}.conv_shortcut`, x, cin, cout, 1);
  return ops.add(skip, h);
}

/**
 * Multi-head scaled dot-product attention of queries x [N, Tq, D] over context [N, Tk, Dc].
 * `bias` is added to the logits (broadcast to [N, heads, Tq, Tk]); used for key padding masks.
 */
export function attention<T>(ops: Ops<T>, name: string, x: T, context: T, dim: number, contextDim: number, heads: number, bias?: T): T {
  const [, tq] = ops.shape(x);
  const [, tk] = ops.shape(context);
  const d = dim / heads;
  const split = (t: T, len: number) => ops.transpose(ops.reshape(t, [len, heads, d]), [0, 2, 1, 3]);
  const q = split(dense(ops, `${name}.to_q`, x, dim, dim, { bias: false }), tq);
  const k = split(dense(ops, `${name}.to_k`, context, contextDim, dim, { bias: false }), tk);
  const v = split(dense(ops, `${name}.to_v`, context, contextDim, dim, { bias: false }), tk);
  let logits = ops.scale(ops.matmul(q, k, true), 1 / Math.sqrt(d));
  if (bias) logits = ops.add(logits, bias);
  const out = ops.reshape(ops.transpose(ops.matmul(ops.softmax(logits), v), [0, 2, 1, 3]), [tq, dim]);
  return dense(ops, `${name}.to_out`, out, dim, dim);
}

export function feedForward<T>(ops: Ops<T>, name: string, x: T, dim: number, mult = 4): T {
  return dense(ops, `${name}.fc2`, ops.gelu(dense(ops, `${name}.fc1`, x, dim, dim * mult)), dim * mult, dim);
}

/** Pre-norm transformer block: x + attention(norm1(x)), then x + mlp(norm2(x)); `bias` masks keys (padding). */
export function transformerBlock<T>(ops: Ops<T>, name: string, x: T, width: number, heads: number, bias?: T): T {
  const n1 = layerNorm(ops, `${name}.norm1`, x, width);
  const h = ops.add(x, attention(ops, `${name}.attn`, n1, n1, width, width, heads, bias));
  return ops.add(h, feedForward(ops, `${name}.mlp`, layerNorm(ops, `${name}.norm2`, h, width), width));
}

/** Additive attention bias from a [N, T] 0/1 key mask: 0 where kept, −1e9 where masked, shaped [N, 1, 1, T]. */
export function maskBias<T>(ops: Ops<T>, mask: T): T {
  const [, t] = ops.shape(mask);
  return ops.reshape(ops.scale(ops.addScalar(mask, -1), 1e9), [1, 1, t]);
}

/**
 * Spatial transformer: self-attention, optional cross-attention to `context`, feed-forward, on an image's tokens;
 * with `positions`, a learned embedding per position is added to the tokens first.
 */
export function spatialTransformer<T>(
  ops: Ops<T>,
  name: string,
  x: T,
  channels: number,
  groups: number,
  heads: number,
  context?: { states: T; dim: number },
  positions = false,
): T {
  const [, h, w] = ops.shape(x);
  let t = ops.imageToTokens(groupNorm(ops, `${name}.norm`, x, channels, groups));
  t = dense(ops, `${name}.proj_in`, t, channels, channels);
  if (positions) t = ops.add(t, ops.param(`${name}.position_embedding`, [h * w, channels], { kind: 'normal', std: 0.02 }));
  const n1 = layerNorm(ops, `${name}.norm1`, t, channels);
  t = ops.add(t, attention(ops, `${name}.attn1`, n1, n1, channels, channels, heads));
  if (context) {
    const n2 = layerNorm(ops, `${name}.norm2`, t, channels);
    t = ops.add(t, attention(ops, `${name}.attn2`, n2, context.states, channels, context.dim, heads));
  }
  t = ops.add(t, feedForward(ops, `${name}.ff`, layerNorm(ops, `${name}.norm3`, t, channels), channels));
  t = dense(ops, `${name}.proj_out`, t, channels, channels, { zeroInit: true });
  return ops.add(x, ops.tokensToImage(t, h, w));
}

/** Sinusoidal embedding of a scalar per batch item (timestep or noise level), [N] → [N, dim], cos then sin. */
export function sinusoidalEmbedding<T>(ops: Ops<T>, t: T, dim: number, maxPeriod = 10_000): T {
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / half);
  const args = ops.mul(ops.reshape(t, [1]), ops.constant(freqs, [1, half]));
  return ops.concat([ops.cos(args), ops.sin(args)], -1);
}

export function downsample<T>(ops: Ops<T>, name: string, x: T, channels: number): T {
  return conv(ops, `${name}.conv`, x, channels, channels, 3, { stride: 2 });
}

export function upsample<T>(ops: Ops<T>, name: string, x: T, channels: number): T {
  return conv(ops, `${name}.conv`, ops.upsample2x(x), channels, channels, 3);
}
