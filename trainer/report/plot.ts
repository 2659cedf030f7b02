import type { FloatImage } from '../../models/image.ts';

/**
 * A loss curve as a picture: raw loss in light grey, an exponential moving average in blue, on a log
 * scale when the values span more than a decade. Axes only; the run's log has the numbers.
 */
export function lossCurve(losses: number[], width = 480, height = 240): FloatImage {
  const data = new Float32Array(width * height * 3).fill(1);
  const finite = losses.filter(Number.isFinite);
  if (finite.length < 2) return { width, height, data };
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const useLog = lo > 0 && hi / lo > 10;
  const f = (v: number) => (useLog ? Math.log10(v) : v);
  const [a, b] = [f(lo), f(hi) === f(lo) ? f(lo) + 1 : f(hi)];
  const m = 20;
  const px = (i: number) => m + ((width - 2 * m) * i) / (losses.length - 1);
  const py = (v: number) => height - m - ((height - 2 * m) * (f(v) - a)) / (b - a);
  const set = (x: number, y: number, rgb: number[]) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    data.set(rgb.map((c) => c * 2 - 1), (yi * width + xi) * 3);
  };
  const line = (x0: number, y0: number, x1: number, y1: number, rgb: number[]) => {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let k = 0; k <= n; k++) set(x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n, rgb);
  };
  line(m, height - m, width - m, height - m, [0, 0, 0]);
  line(m, m, m, height - m, [0, 0, 0]);
  let ema = finite[0];
  let prev: [number, number, number, number] | undefined;
  losses.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    ema = 0.9 * ema + 0.1 * v;
    if (prev) {
      line(prev[0], prev[1], px(i), py(v), [0.8, 0.8, 0.8]);
      line(prev[0], prev[2], px(i), py(ema), [0.1, 0.3, 0.9]);
    }
    prev = [px(i), py(v), py(ema), 0];
  });
  return { width, height, data };
}
