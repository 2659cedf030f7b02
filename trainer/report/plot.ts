import type { FloatImage } from '../../models/image.ts';

/** A white picture with pixel and line drawing in [0, 1] RGB; the plots below share it. */
function canvas(width: number, height: number) {
  const data = new Float32Array(width * height * 3).fill(1);
  const set = (x: number, y: number, rgb: readonly number[]) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    data.set(
      rgb.map((c) => c * 2 - 1),
      (yi * width + xi) * 3,
    );
  };
  const line = (x0: number, y0: number, x1: number, y1: number, rgb: readonly number[]) => {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let k = 0; k <= n; k++) set(x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n, rgb);
  };
  return { image: { width, height, data } as FloatImage, set, line };
}

/**
 * A loss curve as a picture: raw loss in light grey, an exponential moving average in blue, on a log
 * scale when the values span more than a decade. Axes only; the run's log has the numbers.
 */
export function lossCurve(losses: number[], width = 480, height = 240): FloatImage {
  const c = canvas(width, height);
  const finite = losses.filter(Number.isFinite);
  if (finite.length < 2) return c.image;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const useLog = lo > 0 && hi / lo > 10;
  const f = (v: number) => (useLog ? Math.log10(v) : v);
  const [a, b] = [f(lo), f(hi) === f(lo) ? f(lo) + 1 : f(hi)];
  const m = 20;
  const px = (i: number) => m + ((width - 2 * m) * i) / (losses.length - 1);
  const py = (v: number) => height - m - ((height - 2 * m) * (f(v) - a)) / (b - a);
  c.line(m, height - m, width - m, height - m, [0, 0, 0]);
  c.line(m, m, m, height - m, [0, 0, 0]);
  let ema = finite[0];
  let prev: [number, number, number] | undefined;
  losses.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    ema = 0.9 * ema + 0.1 * v;
    if (prev) {
      c.line(prev[0], prev[1], px(i), py(v), [0.8, 0.8, 0.8]);
      c.line(prev[0], prev[2], px(i), py(ema), [0.1, 0.3, 0.9]);
    }
    prev = [px(i), py(v), py(ema)];
  });
  return c.image;
}

export interface Series {
  values: number[];
  rgb: readonly [number, number, number];
}

/**
 * Lines through points (x, value) on a y axis from 0 to 1, light grid lines at every 0.1 and a dark one
 * at `mark` (a goal, e.g. 0.9); x is placed linearly. For curves such as accuracy against guidance scale.
 */
export function seriesChart(xs: number[], series: Series[], mark?: number, width = 480, height = 240): FloatImage {
  const c = canvas(width, height);
  const m = 20;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
  const px = (x: number) => m + ((width - 2 * m) * (x - x0)) / (x1 - x0);
  const py = (v: number) => height - m - (height - 2 * m) * Math.max(0, Math.min(1, v));
  for (let k = 1; k <= 10; k++) c.line(m, py(k / 10), width - m, py(k / 10), [0.9, 0.9, 0.9]);
  if (mark !== undefined) c.line(m, py(mark), width - m, py(mark), [0.45, 0.45, 0.45]);
  c.line(m, height - m, width - m, height - m, [0, 0, 0]);
  c.line(m, m, m, height - m, [0, 0, 0]);
  for (const x of xs) c.line(px(x), height - m, px(x), height - m + 4, [0, 0, 0]);
  for (const s of series) {
    s.values.forEach((v, i) => {
      if (i > 0) c.line(px(xs[i - 1]), py(s.values[i - 1]), px(xs[i]), py(v), s.rgb);
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) c.set(px(xs[i]) + dx, py(v) + dy, s.rgb);
    });
  }
  return c.image;
}
