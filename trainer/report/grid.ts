import type { FloatImage } from '../../models/image.ts';

/** Tile equally sized images into a grid with a white gutter, `columns` wide. */
export function imageGrid(images: FloatImage[], columns: number, gutter = 2): FloatImage {
  const { width: w, height: h } = images[0];
  const rows = Math.ceil(images.length / columns);
  const W = columns * w + (columns + 1) * gutter;
  const H = rows * h + (rows + 1) * gutter;
  const data = new Float32Array(W * H * 3).fill(1);
  images.forEach((img, k) => {
    const ox = gutter + (k % columns) * (w + gutter);
    const oy = gutter + Math.floor(k / columns) * (h + gutter);
    for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((oy + y) * W + ox) * 3);
  });
  return { width: W, height: H, data };
}

/** Nearest-neighbour enlargement by an integer factor, so small samples stay crisp in a report. */
export function enlarge(img: FloatImage, factor: number): FloatImage {
  if (factor === 1) return img;
  const W = img.width * factor;
  const data = new Float32Array(W * img.height * factor * 3);
  for (let y = 0; y < img.height * factor; y++)
    for (let x = 0; x < W; x++) {
      const src = (Math.floor(y / factor) * img.width + Math.floor(x / factor)) * 3;
      data.set(img.data.subarray(src, src + 3), (y * W + x) * 3);
    }
  return { width: W, height: img.height * factor, data };
}
