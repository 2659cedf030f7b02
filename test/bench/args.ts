import { InvalidArgumentError } from '../../models/errors.ts';

export interface BenchArgs {
  json: boolean;
  int(name: string, fallback: number): number;
  str(name: string, fallback: string): string;
  /** A switch given with no value (`--webgpu`). */
  flag(name: string): boolean;
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
      const bare = !a.includes('=') && (argv[i + 1] === undefined || argv[i + 1].startsWith('--'));
      const [k, v] = a.includes('=') ? [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a.slice(2), bare ? '' : argv[++i]];
      values.set(k, v);
    } else throw new InvalidArgumentError('argument', `unexpected '${a}'`);
  }
  return {
    json,
    int(name, fallback) {
      const v = values.get(name);
      if (v === undefined) return fallback;
      if (v === '') throw new InvalidArgumentError(name, 'needs a value');
      const n = Number(v);
      if (!Number.isInteger(n)) throw new InvalidArgumentError(name, `must be an integer, got '${v}'`);
      return n;
    },
    str(name, fallback) {
      const v = values.get(name);
      if (v === '') throw new InvalidArgumentError(name, 'needs a value');
      return v ?? fallback;
    },
    flag: (name) => values.has(name),
    progress: (line) => process.stderr.write(`${line}\n`),
  };
}
