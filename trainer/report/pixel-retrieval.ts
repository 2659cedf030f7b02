import { InvalidArgumentError } from '../../models/errors.ts';
import { downscale, resizeBilinear, type FloatImage } from '../../models/image.ts';

/** An emoji name without its skin-tone qualifiers: 'man: light skin tone, curly hair' → 'man: curly hair'. */
export function baseCaption(caption: string): string {
  return caption
    .replace(/(?:medium-light|medium-dark|light|medium|dark) skin tone/g, '')
    .replace(/(,\s*)+/g, ', ')
    .replace(/:\s*,\s*/, ': ')
    .replace(/[,:\s]+$/, '')
    .trim();
}

/** Area-downscale to size×size (bilinear where the size does not divide). */
function thumbnail(im: FloatImage, size: number): Float32Array {
  if (im.width === size) return im.data;
  return im.width % size === 0 ? downscale(im, im.width / size).data : resizeBilinear(im, size, size).data;
}

export interface RetrievalScores {
  /** Share of queries whose own image is the nearest real image / among the 5 nearest. */
  top1: number;
  top5: number;
  /** Share whose nearest real image has the query caption's base name (skin tone ignored); and within the 5 nearest. */
  baseMatch: number;
  baseMatchTop5: number;
  /** Median 1-based rank of the own image among all real images. */
  medianRank: number;
  queries: number;
}

/**
 * A judge with nothing learned in it: nearest real images by L2 distance on raw RGB at 32×32. Queries are
 * images meant to show item `own` of the gallery (a generation for its caption, a VAE reconstruction, or a
 * deliberately mismatched real image for chance).
 */
export function pixelRetrieval(gallery: { image: FloatImage; caption: string }[], size = 32) {
  if (gallery.length < 5) throw new InvalidArgumentError('gallery', `needs at least 5 images, got ${gallery.length}`);
  const thumbs = gallery.map((g) => thumbnail(g.image, size));
  const bases = gallery.map((g) => baseCaption(g.caption));
  const distances = (query: Float32Array) =>
    thumbs.map((t) => {
      let d = 0;
      for (let i = 0; i < t.length; i++) d += (t[i] - query[i]) ** 2;
      return d;
    });
  return {
    score(queries: { image: FloatImage; own: number }[]): RetrievalScores {
      let [top1, top5, base1, base5] = [0, 0, 0, 0];
      const ranks: number[] = [];
      for (const q of queries) {
        const d = distances(thumbnail(q.image, size));
        const order = d.map((_, i) => i).sort((a, b) => d[a] - d[b]);
        const rank = order.indexOf(q.own) + 1;
        ranks.push(rank);
        top1 += +(rank === 1);
        top5 += +(rank <= 5);
        base1 += +(bases[order[0]] === bases[q.own]);
        base5 += +order.slice(0, 5).some((i) => bases[i] === bases[q.own]);
      }
      ranks.sort((a, b) => a - b);
      const n = queries.length;
      const mid = ranks.length % 2 ? ranks[(n - 1) / 2] : (ranks[n / 2 - 1] + ranks[n / 2]) / 2;
      return { top1: top1 / n, top5: top5 / n, baseMatch: base1 / n, baseMatchTop5: base5 / n, medianRank: mid, queries: n };
    },
  };
}
