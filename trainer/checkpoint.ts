import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/** A named float32 tensor as stored in a checkpoint. */
export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

const headerSchema = z.object({
  format: z.literal('edge-diffusion-checkpoint/1'),
  step: z.number().int().nonnegative(),
  meta: z.record(z.unknown()),
  tensors: z.array(
    z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()), offset: z.number().int(), length: z.number().int() }),
  ),
});

export interface Checkpoint {
  step: number;
  meta: Record<string, unknown>;
  tensors: Map<string, StoredTensor>;
}

/** Write atomically: a temp file beside the target, then rename, so a crash never leaves half a checkpoint. */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Layout: 8-byte little-endian header length, JSON header, then 4-byte aligned float32 data. */
export function saveCheckpoint(path: string, ckpt: Checkpoint): void {
  let offset = 0;
  const entries = [...ckpt.tensors].map(([name, t]) => {
    const e = { name, shape: t.shape, offset, length: t.data.length };
    offset += t.data.length;
    return e;
  });
  const header = new TextEncoder().encode(
    JSON.stringify({ format: 'edge-diffusion-checkpoint/1', step: ckpt.step, meta: ckpt.meta, tensors: entries }),
  );
  const headerPadded = Math.ceil((8 + header.length) / 4) * 4;
  const out = new Uint8Array(headerPadded + offset * 4);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  const floats = new Float32Array(out.buffer, headerPadded, offset);
  let at = 0;
  for (const t of ckpt.tensors.values()) {
    floats.set(t.data, at);
    at += t.data.length;
  }
  writeAtomic(path, out);
}

export function loadCheckpoint(path: string): Checkpoint | undefined {
  if (!existsSync(path)) return undefined;
  const buf = readFileSync(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = headerSchema.parse(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))));
  const start = Math.ceil((8 + len) / 4) * 4;
  const all = new Float32Array(bytes.slice(start).buffer);
  const tensors = new Map<string, StoredTensor>();
  for (const t of header.tensors) tensors.set(t.name, { shape: t.shape, data: all.slice(t.offset, t.offset + t.length) });
  return { step: header.step, meta: header.meta, tensors };
}
