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
