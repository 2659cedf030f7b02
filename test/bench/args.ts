import { InvalidArgumentError } from '../../models/errors.ts';

export interface BenchArgs {
  json: boolean;
  int(name: string, fallback: number): number;
  str(name: string, fallback: string): string;
  /** One progress line on stderr, so stdout stays machine-readable JSON. */
  progress(line: string): void;
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a.startsWith('--')) {
      const [k, v] = a.includes('=') ? [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a.slice(2), argv[++i]];
      if (v === undefined) throw new InvalidArgumentError(k, 'needs a value');
      values.set(k, v);
    } else throw new InvalidArgumentError('argument', `unexpected '${a}'`);
  }
  return {
    json,
    int(name, fallback) {
      const v = values.get(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n)) throw new InvalidArgumentError(name, `must be an integer, got '${v}'`);
      return n;
    },
    str: (name, fallback) => values.get(name) ?? fallback,
    progress: (line) => process.stderr.write(`${line}\n`),
  };
}
