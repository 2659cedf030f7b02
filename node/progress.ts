/** A progress bar with rate and ETA on stderr; on a non-TTY stream, one line every 10 %. */
export class ProgressBar {
  private readonly start = Date.now();
  private lastPct = -1;

  constructor(
    readonly label: string,
    readonly total: number,
    readonly startAt = 0,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  /** `perUnit` items (samples, …) per unit of progress, reported as `unit`/s. */
  update(done: number, info: string, perUnit = 1, unit = 'samples'): void {
    const elapsed = (Date.now() - this.start) / 1000;
    const ran = done - this.startAt;
    const rate = ran > 0 ? ran / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const frac = this.total > 0 ? done / this.total : 1;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const line = `${this.label} ${bar} ${done}/${this.total}${info ? ` ${info}` : ''} ${(rate * perUnit).toFixed(1)} ${unit}/s ETA ${formatDuration(eta)}`;
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K`);
    else {
      const pct = Math.floor(frac * 10);
      if (pct !== this.lastPct || done === this.total) {
        this.lastPct = pct;
        this.stream.write(`${line}\n`);
      }
    }
  }

  done(summary: string): void {
    if (this.stream.isTTY) this.stream.write('\n');
    this.stream.write(`${this.label} done: ${summary} in ${formatDuration((Date.now() - this.start) / 1000)}\n`);
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
