import { writeFileSync } from 'node:fs';
import type { RunContext, StageSummary } from '../context.ts';
import { trainTokenizer } from '../tokenizer-train.ts';

export async function tokenizerStage(ctx: RunContext): Promise<StageSummary> {
  const t0 = Date.now();
  ctx.stageDir('tokenizer');
  const captions = (await ctx.data()).train.samples.map((s) => s.caption);
  writeFileSync(ctx.tokenizerPath(), trainTokenizer(captions, ctx.preset.maxLength));
  const tok = ctx.tokenizer();
  const lengths = captions.map((c) => tok.countTokens(c));
  const truncated = lengths.filter((n) => n > tok.maxLength - 2).length;
  ctx.log(
    `tokenizer: vocabulary ${tok.vocabSize}, longest caption ${Math.max(...lengths)} tokens, ${truncated} truncated at ${tok.maxLength}`,
  );
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000, vocabSize: tok.vocabSize, truncated };
}
