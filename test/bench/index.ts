import { parseBenchArgs, type BenchArgs } from './args.ts';
import { samplerBench } from './sampler.ts';
import { trainStepBench } from './train-step.ts';
import { edgeBench } from './edge.ts';
import { unetStepBench } from './unet-step.ts';
import { firstVisitBench } from './first-visit.ts';

const BENCHES: Record<string, (args: BenchArgs) => Promise<unknown>> = {
  sampler: samplerBench,
  'train-step': trainStepBench,
  edge: edgeBench,
  'unet-step': unetStepBench,
  'first-visit': firstVisitBench,
};

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--json] [options]\n`);
    process.exit(2);
  }
  const args = parseBenchArgs(rest);
  const result = await bench(args);
  process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
