import type { TextEncoderConfig } from './configs.ts';
import { dense, layerNorm, maskBias, transformerBlock } from './layers.ts';
import type { Ops } from './ops.ts';

/**
 * Pre-norm transformer over token ids [N, T]. Padding keys are masked out of attention. Returns per-token
 * hidden states (the U-Net's cross-attention context) and the CLIP text embedding, projected from the
 * first token's state (the tokenizer puts a start token there, so it can gather the whole prompt).
 */
export function textEncoder<T>(ops: Ops<T>, cfg: TextEncoderConfig, ids: T): { hidden: T; pooled: T } {
  const { width, heads } = cfg;
  const table = ops.param('token_embedding.weight', [cfg.vocabSize, width], { kind: 'normal', std: 0.02 });
  const positions = ops.param('position_embedding.weight', [cfg.maxLength, width], { kind: 'normal', std: 0.01 });
  let x = ops.add(ops.embedding(ids, table), positions);
  const bias = maskBias(ops, ops.tokenMask(ids, cfg.padId));
  for (let i = 0; i < cfg.layers; i++) x = transformerBlock(ops, `layers.${i}`, x, width, heads, bias);
  const hidden = layerNorm(ops, 'final_norm', x, width);
  const pooled = dense(ops, 'text_projection', ops.selectIndex(hidden, 0), width, cfg.projectionDim, { bias: false });
  return { hidden, pooled };
}
