import type { TextEncoderConfig } from './configs.ts';
import { dense, layerNorm, maskBias, transformerBlock } from './layers.ts';
import type { Ops } from './ops.ts';

/**
 * Pre-norm transformer over token ids [N, T]. Padding keys are masked out of attention. Returns per-token
 * hidden states (the U-Net's cross-attention context) and the CLIP text embedding, projected from the
 * first token's state (the tokenizer puts a start token there, so it can gather the whole prompt) or, when
 * `causal`, from the last real token's (the only one that has seen the whole prompt).
 */
export function textEncoder<T>(ops: Ops<T>, cfg: TextEncoderConfig, ids: T): { hidden: T; pooled: T } {
  const { width, heads } = cfg;
  const table = ops.param('token_embedding.weight', [cfg.vocabSize, width], { kind: 'normal', std: 0.02 });
  const positions = ops.param('position_embedding.weight', [cfg.maxLength, width], { kind: 'normal', std: 0.01 });
  let x = ops.add(ops.embedding(ids, table), positions);
  const mask = ops.tokenMask(ids, cfg.padId);
  const bias = cfg.causal ? ops.add(maskBias(ops, mask), causalBias(ops, cfg.maxLength)) : maskBias(ops, mask);
  for (let i = 0; i < cfg.layers; i++) x = transformerBlock(ops, `layers.${i}`, x, width, heads, bias);
  const hidden = layerNorm(ops, 'final_norm', x, width);
  const summary = cfg.causal ? lastToken(ops, hidden, mask, cfg.maxLength) : ops.selectIndex(hidden, 0);
  const pooled = dense(ops, 'text_projection', summary, width, cfg.projectionDim, { bias: false });
  return { hidden, pooled };
}

/** −1e9 where a key comes after its query, shaped [1, 1, T, T] to broadcast over batch and heads. */
function causalBias<T>(ops: Ops<T>, length: number): T {
  const values = new Float32Array(length * length);
  for (let q = 0; q < length; q++) for (let k = q + 1; k < length; k++) values[q * length + k] = -1e9;
  return ops.constant(values, [1, 1, length, length]);
}

/**
 * The state of each sequence's last unmasked token, [N, D]: the mask minus itself shifted one place left is
 * one-hot there (the mask is 1…1 0…0), which a matrix product and a weighted sum turn into a gather.
 */
function lastToken<T>(ops: Ops<T>, states: T, mask: T, length: number): T {
  const shiftLeft = new Float32Array(length * length);
  for (let t = 0; t + 1 < length; t++) shiftLeft[(t + 1) * length + t] = 1;
  const last = ops.sub(mask, ops.linear(mask, ops.constant(shiftLeft, [length, length])));
  return ops.sum(ops.mul(states, ops.reshape(last, [length, 1])), 1);
}
