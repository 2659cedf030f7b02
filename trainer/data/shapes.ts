import { createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import type { FloatImage } from '../../models/image.ts';
import type { Dataset, Sample } from './dataset.ts';

export const COLOURS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  yellow: [240, 200, 30],
  purple: [150, 60, 190],
  orange: [250, 130, 20],
} as const;
export type Colour = keyof typeof COLOURS;
export const SHAPES = ['circle', 'square', 'triangle'] as const;
export type Shape = (typeof SHAPES)[number];
export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];
export const RELATIONS = ['above', 'below', 'left of', 'right of'] as const;
export type Relation = (typeof RELATIONS)[number];

export interface ShapeObject {
  shape: Shape;
  colour: Colour;
  size: Size;
  /** Centre in [0, 1] image coordinates. */
  cx: number;
  cy: number;
  /** Half extent in [0, 1] image units. */
  r: number;
}

/** A scene and its ground truth: one object, or two in a spatial relation ("A above B"). */
export interface ShapeScene {
  objects: ShapeObject[];
  relation?: Relation;
}

export interface ShapesOptions {
  maxObjects: 1 | 2;
  /** With `maxObjects: 2`, the share of scenes with two objects (default ½): one-object scenes teach no relation. */
  twoObjectShare?: number;
}

/**
 * Attribute combinations no training scene contains, so the eval can ask whether the model composes what it
 * learned separately: two colour–shape pairs (in any object) and two shape pairs in a relation.
 */
export const HELD_OUT_COMBINATIONS = {
  colourShape: [
    ['purple', 'triangle'],
    ['orange', 'circle'],
  ] as [Colour, Shape][],
  shapeRelation: [
    ['square', 'above', 'circle'],
    ['triangle', 'left of', 'square'],
  ] as [Shape, Relation, Shape][],
};

export function isHeldOutCombination(scene: ShapeScene): boolean {
  const { colourShape, shapeRelation } = HELD_OUT_COMBINATIONS;
  if (scene.objects.some((o) => colourShape.some(([c, s]) => o.colour === c && o.shape === s))) return true;
  const [a, b] = scene.objects;
  return !!b && shapeRelation.some(([sa, r, sb]) => a.shape === sa && scene.relation === r && b.shape === sb);
}

/**
 * The `index`-th scene of a split: `ordinary` scenes never contain a held-out combination, `combinations`
 * scenes always do (drawn by rejection, each from its own deterministic stream).
 */
export function splitScene(seed: number, index: number, options: ShapesOptions, split: 'ordinary' | 'combinations'): ShapeScene {
  for (let attempt = 0; ; attempt++) {
    const scene = generateScene(mixSeed(seed, split === 'ordinary' ? 0 : 1), index * 1000 + attempt, options);
    if (isHeldOutCombination(scene) === (split === 'combinations')) return scene;
  }
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

export function generateScene(seed: number, index: number, options: ShapesOptions): ShapeScene {
  const rand = createUniformRng(mixSeed(seed, index, 0x5a9e));
  const colours = Object.keys(COLOURS) as Colour[];
  const make = (cx: number, cy: number, scale: number): ShapeObject => {
    const size = pick(rand, SIZES);
    return { shape: pick(rand, SHAPES), colour: pick(rand, colours), size, cx, cy, r: (size === 'small' ? 0.55 : 1) * scale };
  };
  if (options.maxObjects === 1 || rand() < 1 - (options.twoObjectShare ?? 0.5)) {
    const o = make(0, 0, 0.3);
    // Keep the whole object inside the frame, jittered so position is not constant.
    o.cx = o.r + rand() * (1 - 2 * o.r);
    o.cy = o.r + rand() * (1 - 2 * o.r);
    return { objects: [o] };
  }
  const relation = pick(rand, RELATIONS);
  const a = make(0, 0, 0.2);
  const b = make(0, 0, 0.2);
  const jitter = () => 0.5 + (rand() - 0.5) * 0.2;
  const [near, far] = [0.27, 0.73];
  if (relation === 'above' || relation === 'below') {
    [a.cy, b.cy] = relation === 'above' ? [near, far] : [far, near];
    a.cx = jitter();
    b.cx = jitter();
  } else {
    [a.cx, b.cx] = relation === 'left of' ? [near, far] : [far, near];
    a.cy = jitter();
    b.cy = jitter();
  }
  return { objects: [a, b], relation };
}

export function describeObject(o: ShapeObject): string {
  return `a ${o.size} ${o.colour} ${o.shape}`;
}

export function caption(scene: ShapeScene): string {
  const [a, b] = scene.objects;
  return b && scene.relation ? `${describeObject(a)} ${scene.relation} ${describeObject(b)}` : describeObject(a);
}

/** The scene a caption describes (attributes and relation; positions unknown, left centred): `caption`'s inverse. */
export function parseCaption(text: string): ShapeScene | undefined {
  const object = `a (${SIZES.join('|')}) (${Object.keys(COLOURS).join('|')}) (${SHAPES.join('|')})`;
  const m = new RegExp(`^${object}(?: (${RELATIONS.join('|')}) ${object})?$`).exec(text);
  if (!m) return undefined;
  const at = (k: number): ShapeObject => ({
    size: m[k] as Size,
    colour: m[k + 1] as Colour,
    shape: m[k + 2] as Shape,
    cx: 0.5,
    cy: 0.5,
    r: 0,
  });
  return m[4] ? { objects: [at(1), at(5)], relation: m[4] as Relation } : { objects: [at(1)] };
}

function inside(o: ShapeObject, x: number, y: number): boolean {
  const dx = x - o.cx;
  const dy = y - o.cy;
  if (o.shape === 'circle') return dx * dx + dy * dy <= o.r * o.r;
  if (o.shape === 'square') return Math.abs(dx) <= o.r * 0.85 && Math.abs(dy) <= o.r * 0.85;
  // Upward triangle with its base at cy + r: width grows linearly from the apex.
  const t = (dy + o.r) / (2 * o.r);
  return t >= 0 && t <= 1 && Math.abs(dx) <= t * o.r;
}

/** Render with 4×4 supersampling on white, at any resolution. */
export function renderScene(scene: ShapeScene, size: number): FloatImage {
  const data = new Float32Array(size * size * 3);
  const ss = 4;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0];
      for (let sy = 0; sy < ss; sy++)
        for (let sx = 0; sx < ss; sx++) {
          const u = (x + (sx + 0.5) / ss) / size;
          const v = (y + (sy + 0.5) / ss) / size;
          let rgb: readonly number[] = [255, 255, 255];
          for (const o of scene.objects) if (inside(o, u, v)) rgb = COLOURS[o.colour];
          for (let c = 0; c < 3; c++) acc[c] += rgb[c];
        }
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = (acc[c] / (ss * ss) / 255) * 2 - 1;
    }
  return { width: size, height: size, data };
}

export function shapesDataset(
  seed: number,
  count: number,
  imageSize: number,
  options: ShapesOptions,
  offset = 0,
  split: 'ordinary' | 'combinations' = 'ordinary',
): Dataset & { scenes: ShapeScene[] } {
  const scenes = Array.from({ length: count }, (_, i) => splitScene(seed, offset + i, options, split));
  let samples: Sample[] | undefined;
  return {
    source: {
      name: 'shapes',
      description: `synthetic scenes, up to ${options.maxObjects} objects${options.twoObjectShare === undefined ? '' : ` (${options.twoObjectShare} with two)`}, seed ${seed}`,
      licence: 'generated by this project (no third-party content)',
      count,
    },
    imageSize,
    // Rendered on first use: callers often read one split only, and 32 000 training scenes at 96 px are 3.5 GB.
    get samples() {
      samples ??= scenes.map((s) => ({ image: renderScene(s, imageSize), caption: caption(s) }));
      return samples;
    },
    scenes,
    skipped: {},
    twin(index, rand) {
      const t = twinScene(scenes[index], rand);
      return t && { image: renderScene(t, imageSize), caption: caption(t) };
    },
  };
}

const OPPOSITE: Record<Relation, Relation> = { above: 'below', below: 'above', 'left of': 'right of', 'right of': 'left of' };

/** A two-object scene with its objects' colours exchanged: the twin that shows whether colours are bound to objects. */
export function colourSwapped(scene: ShapeScene): ShapeScene {
  const [a, b] = scene.objects;
  return {
    relation: scene.relation,
    objects: [
      { ...a, colour: b.colour },
      { ...b, colour: a.colour },
    ],
  };
}

/**
 * The scene changed in exactly what a frozen contrastive text encoder tends to blur: for two objects, their
 * shapes or colours swapped or their places swapped (the relation reversed); for one, another shape. Undefined
 * when the change would not change the caption or would make a held-out combination (never trained on).
 */
export function twinScene(scene: ShapeScene, rand: () => number): ShapeScene | undefined {
  const [a, b] = scene.objects;
  let twin: ShapeScene;
  if (!b || !scene.relation)
    twin = {
      objects: [
        {
          ...a,
          shape: pick(
            rand,
            SHAPES.filter((s) => s !== a.shape),
          ),
        },
      ],
    };
  else {
    const kind = pick(rand, ['shapes', 'colours', 'places'] as const);
    if (kind === 'shapes')
      twin = {
        relation: scene.relation,
        objects: [
          { ...a, shape: b.shape },
          { ...b, shape: a.shape },
        ],
      };
    else if (kind === 'colours') twin = colourSwapped(scene);
    else
      twin = {
        relation: OPPOSITE[scene.relation],
        objects: [
          { ...a, cx: b.cx, cy: b.cy },
          { ...b, cx: a.cx, cy: a.cy },
        ],
      };
  }
  return caption(twin) === caption(scene) || isHeldOutCombination(twin) ? undefined : twin;
}

export interface DetectedObject {
  colour: Colour;
  shape: Shape;
  cx: number;
  cy: number;
  pixels: number;
  /** Bounding-box extent (the larger side) in [0, 1] image units. */
  extent: number;
}

/**
 * `coverageProfile` boundaries: half an upward triangle's row skewness (−2√2/5; square and disc 0), and the
 * geometric mean of a square's squareness (1) and a disc's (4/π).
 */
const TRIANGLE_SKEW = -Math.SQRT2 / 5;
const SQUARE_CIRCLE = Math.sqrt(4 / Math.PI);

/**
 * Find the objects in a generated image: pixels far from white, grouped by nearest palette colour into
 * connected components; shape from each component's `coverageProfile`. (Not from how much of its bounding box
 * the hard mask fills: one stray pixel row moves a small square's fill from 1 to 0.9, and a slight blur made
 * 3–8 % of real renders read wrong that way.) The ground-truth side of prompt-following accuracy.
 */
export function detectObjects(img: FloatImage, maxObjects = 2): DetectedObject[] {
  const { width: w, height: h } = img;
  const colours = Object.entries(COLOURS) as [Colour, readonly number[]][];
  const label = new Int32Array(w * h).fill(-1);
  for (let i = 0; i < w * h; i++) {
    const rgb = [0, 1, 2].map((c) => ((img.data[i * 3 + c] + 1) / 2) * 255);
    if (Math.hypot(rgb[0] - 255, rgb[1] - 255, rgb[2] - 255) < 90) continue;
    let best = 0;
    let bestD = Infinity;
    colours.forEach(([, ref], k) => {
      const d = Math.hypot(rgb[0] - ref[0], rgb[1] - ref[1], rgb[2] - ref[2]);
      if (d < bestD) [best, bestD] = [k, d];
    });
    label[i] = best;
  }
  // Component index of each labelled pixel, so an object's coverage leaves the other object out (specks count as background).
  const component = new Int32Array(w * h).fill(-1);
  const isObject: boolean[] = [];
  const objects: (Omit<DetectedObject, 'shape'> & { box: number[]; id: number })[] = [];
  for (let start = 0; start < w * h; start++) {
    if (label[start] < 0 || component[start] >= 0) continue;
    const k = label[start];
    const id = isObject.length;
    const stack = [start];
    component[start] = id;
    let n = 0;
    let sx = 0;
    let sy = 0;
    let [x0, y0, x1, y1] = [w, h, 0, 0];
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w;
      const y = (p - x) / w;
      n++;
      sx += x;
      sy += y;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
      for (const [dx, dy] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ]) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const q = ny * w + nx;
        if (component[q] < 0 && label[q] === k) {
          component[q] = id;
          stack.push(q);
        }
      }
    }
    isObject.push(n >= (w * h) / 400);
    if (!isObject[id]) continue; // specks
    objects.push({
      id,
      colour: colours[k][0],
      cx: (sx / n + 0.5) / w,
      cy: (sy / n + 0.5) / h,
      pixels: n,
      extent: Math.max(x1 - x0 + 1, y1 - y0 + 1) / w,
      box: [x0, y0, x1, y1],
    });
  }
  const found = objects.map(({ id, box, ...o }): DetectedObject => {
    const own = (i: number) => component[i] === id || component[i] < 0 || !isObject[component[i]];
    const p = coverageProfile(img, COLOURS[o.colour], box, own);
    return { ...o, shape: p.skew < TRIANGLE_SKEW ? 'triangle' : p.squareness < SQUARE_CIRCLE ? 'square' : 'circle' };
  });
  return found.sort((a, b) => b.pixels - a.pixels).slice(0, maxObjects);
}

/**
 * How an object's coverage (each pixel's share of its colour over white, from the colour alone) projects onto
 * the axes. `squareness`: the largest column sum times the largest row sum over the total; an axis-aligned
 * square gives 1, a disc 4/π, an upward triangle 2. `skew`: the skewness of the row sums, an upward
 * triangle's −2√2/5 (its rows widen towards the base), a square's or disc's 0. Coverage sums keep their value
 * under blur, noise and resampling, which move a hard mask's edge pixels, and a blur adds no skew; so the
 * verdict follows the drawn shape, not its anti-aliasing. Pixels within 2 of the bounding box count where `own`
 * says they are this object's or background.
 */
export function coverageProfile(
  img: FloatImage,
  rgb: readonly number[],
  [x0, y0, x1, y1]: number[],
  own: (pixel: number) => boolean,
): { squareness: number; skew: number } {
  const { width: w, height: h } = img;
  const d = rgb.map((c) => 255 - c);
  const dd = d[0] ** 2 + d[1] ** 2 + d[2] ** 2;
  const [ax, ay] = [Math.max(0, x0 - 2), Math.max(0, y0 - 2)];
  const [bx, by] = [Math.min(w - 1, x1 + 2), Math.min(h - 1, y1 + 2)];
  const columns = new Float64Array(bx - ax + 1);
  const rows = new Float64Array(by - ay + 1);
  let total = 0;
  for (let y = ay; y <= by; y++)
    for (let x = ax; x <= bx; x++) {
      const i = y * w + x;
      if (!own(i)) continue;
      let dot = 0;
      for (let c = 0; c < 3; c++) dot += (255 - ((img.data[i * 3 + c] + 1) / 2) * 255) * d[c];
      const a = Math.min(1, Math.max(0, dot / dd));
      columns[x - ax] += a;
      rows[y - ay] += a;
      total += a;
    }
  const t = Math.max(total, 1e-9);
  const mean = rows.reduce((acc, r, y) => acc + r * y, 0) / t;
  const [m2, m3] = [2, 3].map((k) => rows.reduce((acc, r, y) => acc + r * (y - mean) ** k, 0) / t);
  return { squareness: (Math.max(...columns) * Math.max(...rows)) / t, skew: m3 / Math.max(m2, 1e-9) ** 1.5 };
}

/**
 * The size a detected object reads as, for a scene of `count` objects: objects are drawn at half extent
 * r = scale·(0.55 small, 1 large) with scale 0.3 alone and 0.2 in pairs; the threshold is the geometric mean of
 * the two extents (squares are drawn at 0.85 r, so their boxes are compared as such).
 */
export function detectedSize(d: DetectedObject, count: number): Size {
  const scale = count === 1 ? 0.3 : 0.2;
  const extent = d.shape === 'square' ? d.extent / 0.85 : d.extent;
  return extent / 2 < scale * Math.sqrt(0.55) ? 'small' : 'large';
}

export interface SceneScore {
  /** Every object's colour and shape found, one detection each. */
  colourShape: boolean;
  /** …and each at its size. */
  size: boolean;
  /** …and the two in their relation (always true for one object). */
  position: boolean;
  /** Everything the caption says is right: colour, shape and size of every object, and the relation. */
  all: boolean;
  /** What went wrong first, where something did: the report's failure breakdown. */
  failure?: SceneFailure;
}

/**
 * Why a scene is wrong, in the order the detector checks it: fewer objects than named (where one of two is
 * missing, an edge fragment of the other often stands in for it and the scene reads as a wrong colour or shape
 * instead); for two, the caption's colours and shapes all present but paired the other way round (`swapped`, a
 * binding failure); a colour or a shape the caption does not name; a wrong size; the relation not holding.
 */
export type SceneFailure = 'count' | 'swapped' | 'colour' | 'shape' | 'size' | 'relation';
export const SCENE_FAILURES: SceneFailure[] = ['count', 'swapped', 'colour', 'shape', 'size', 'relation'];

const sameMultiset = <T>(a: T[], b: T[]) => [...a].sort().join() === [...b].sort().join();

/** Does a generated image show the scene? Colour+shape of every object, their sizes, and (for two) their relation. */
export function scoreScene(img: FloatImage, scene: ShapeScene): SceneScore {
  const count = scene.objects.length;
  const found = detectObjects(img, count);
  // One-to-one matching, exact (colour, shape and size) first: two objects alike but for size must each get
  // their own detection, not whichever is larger.
  const taken = new Set<DetectedObject>();
  const match: (DetectedObject | undefined)[] = scene.objects.map(() => undefined);
  for (const exact of [true, false])
    scene.objects.forEach((o, i) => {
      if (match[i]) return;
      const f = found.find(
        (d) => !taken.has(d) && d.colour === o.colour && d.shape === o.shape && (!exact || detectedSize(d, count) === o.size),
      );
      if (f) [match[i]] = [f, taken.add(f)];
    });
  const colourShape = match.every(Boolean) && found.length === count;
  if (!colourShape) {
    const wanted = (key: 'colour' | 'shape') =>
      sameMultiset(
        found.map((d) => d[key]),
        scene.objects.map((o) => o[key]),
      );
    const failure: SceneFailure =
      found.length !== count ? 'count' : wanted('colour') && wanted('shape') ? 'swapped' : wanted('colour') ? 'shape' : 'colour';
    return { colourShape, size: false, position: false, all: false, failure };
  }
  const size = scene.objects.every((o, i) => detectedSize(match[i]!, count) === o.size);
  let position = true;
  if (scene.relation) {
    const holds = ([a, b]: DetectedObject[]) =>
      scene.relation === 'above'
        ? a.cy < b.cy
        : scene.relation === 'below'
          ? a.cy > b.cy
          : scene.relation === 'left of'
            ? a.cx < b.cx
            : a.cx > b.cx;
    // Two objects of one description ('a red circle above a red circle') hold the relation either way round.
    const alike = describeObject(scene.objects[0]) === describeObject(scene.objects[1]);
    position = holds(match as DetectedObject[]) || (alike && holds([match[1]!, match[0]!]));
  }
  const failure: SceneFailure | undefined = !size ? 'size' : !position ? 'relation' : undefined;
  return { colourShape, size, position, all: size && position, failure };
}

/**
 * Share of scenes fully right (every object's colour, shape and size, and the relation), overall and by object
 * count, from each scene's `scoreScene`.
 */
export function compositionByObjects(scores: SceneScore[], scenes: ShapeScene[]) {
  const right = scores.map((s) => s.all);
  const share = (n?: number) => {
    const idx = scenes.flatMap((s, i) => (n === undefined || s.objects.length === n ? [i] : []));
    return idx.length ? idx.filter((i) => right[i]).length / idx.length : undefined;
  };
  return { scenes: scenes.length, accuracy: share() as number, oneObject: share(1), twoObjects: share(2) };
}
