import { InvalidArgumentError } from './errors.ts';

/**
 * PNG tEXt chunks, platform-free: how generated images carry their generation parameters (under the key
 * `parameters`, the convention other image generators and viewers read) in the CLI and in the page.
 */

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function requirePng(png: Uint8Array): void {
  if (png.length < 33 || SIGNATURE.some((b, i) => png[i] !== b)) throw new InvalidArgumentError('png', 'not a PNG file');
}

/** The PNG with one tEXt chunk per entry inserted after IHDR (Latin-1 text; other characters become '?'). */
export function withPngText(png: Uint8Array, entries: Record<string, string>): Uint8Array {
  requirePng(png);
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset).getUint32(8);
  const chunks = Object.entries(entries).map(([key, value]) => {
    if (!/^[\x20-\x7e]{1,79}$/.test(key)) throw new InvalidArgumentError('key', `'${key}' is not a 1–79 character Latin-1 keyword`);
    const text = `${key}\0${value}`;
    const data = Uint8Array.from(text, (ch) => (ch.charCodeAt(0) < 256 ? ch.charCodeAt(0) : 0x3f));
    const chunk = new Uint8Array(12 + data.length);
    const view = new DataView(chunk.buffer);
    view.setUint32(0, data.length);
    chunk.set([0x74, 0x45, 0x58, 0x74], 4); // 'tEXt'
    chunk.set(data, 8);
    view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
    return chunk;
  });
  const out = new Uint8Array(png.length + chunks.reduce((s, c) => s + c.length, 0));
  out.set(png.subarray(0, ihdrEnd));
  let at = ihdrEnd;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  out.set(png.subarray(ihdrEnd), at);
  return out;
}

/** Every tEXt chunk of a PNG, by keyword. */
export function readPngText(png: Uint8Array): Record<string, string> {
  requirePng(png);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  for (let at = 8; at + 12 <= png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    if (type === 'tEXt') {
      const data = png.subarray(at + 8, at + 8 + length);
      const zero = data.indexOf(0);
      if (zero > 0)
        out[String.fromCharCode(...data.subarray(0, zero))] = Array.from(data.subarray(zero + 1), (b) => String.fromCharCode(b)).join('');
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return out;
}

export interface GenerationParameters {
  prompt: string;
  negative: string;
  steps: number;
  guidance: number;
  sampler: string;
  seed: number;
  model: string;
  size: number;
  strength?: number;
  upscale?: boolean;
}

/** The `parameters` text as other generators write it: prompt, negative prompt, then `Key: value` pairs. */
export function formatParameters(p: GenerationParameters): string {
  const pairs = [
    `Steps: ${p.steps}`,
    `Sampler: ${p.sampler}`,
    `CFG scale: ${p.guidance}`,
    `Seed: ${p.seed}`,
    `Size: ${p.size}x${p.size}`,
    `Model: ${p.model}`,
  ];
  if (p.strength !== undefined) pairs.push(`Denoising strength: ${p.strength}`);
  if (p.upscale) pairs.push('Upscale: 2');
  return `${p.prompt}\nNegative prompt: ${p.negative}\n${pairs.join(', ')}`;
}

/** The inverse of formatParameters; undefined for text it did not write. */
export function parseParameters(text: string): Partial<GenerationParameters> | undefined {
  const lines = text.split('\n');
  if (lines.length < 3 || !lines[1].startsWith('Negative prompt: ')) return undefined;
  const pairs = new Map(lines[2].split(', ').map((kv) => [kv.slice(0, kv.indexOf(':')), kv.slice(kv.indexOf(':') + 2)]));
  const num = (k: string) => (pairs.has(k) ? Number(pairs.get(k)) : undefined);
  return {
    prompt: lines[0],
    negative: lines[1].slice('Negative prompt: '.length),
    steps: num('Steps'),
    sampler: pairs.get('Sampler'),
    guidance: num('CFG scale'),
    seed: num('Seed'),
    model: pairs.get('Model'),
    size: pairs.has('Size') ? Number(pairs.get('Size')!.split('x')[0]) : undefined,
    strength: num('Denoising strength'),
    upscale: pairs.get('Upscale') === '2',
  };
}
