import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { GRAPHS } from '../models/bundle/graphs.ts';
import type { SessionProvider } from '../models/pipeline/ort-runtime.ts';

export interface NodeSessionOptions {
  /** Run the sampler loop through the graphs a GPU keeps it on (on the CPU nothing is saved: tests hold that loop to the JS one). */
  residentLoop?: boolean;
  /** The U-Net rewritten to float16 arithmetic, as a GPU with `shader-f16` runs it (tests of the rewrite and its check). */
  halfPrecisionUnet?: boolean;
}

/**
 * onnxruntime-node sessions for a bundle's files on the CPU, each created once on first use; `source` gives a
 * file's path on disk or its bytes (a bundle folder, or the edge client's verified cache).
 */
export function nodeSessions(
  source: (file: string) => string | Uint8Array | Promise<string | Uint8Array>,
  { residentLoop = false, halfPrecisionUnet = false }: NodeSessionOptions = {},
): SessionProvider {
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  const once = (key: string, create: () => Promise<ort.InferenceSession>) => {
    if (!sessions.has(key)) sessions.set(key, create());
    return sessions.get(key)!;
  };
  const fileSession = async (file: string) => {
    const from = await source(file);
    if (!(halfPrecisionUnet && file === GRAPHS.unet.file))
      return typeof from === 'string' ? ort.InferenceSession.create(from) : ort.InferenceSession.create(from);
    const { halfPrecisionModel } = await import('../models/onnx/fp16-compute.ts');
    return ort.InferenceSession.create(halfPrecisionModel(typeof from === 'string' ? await readFile(from) : from));
  };
  return {
    device: 'cpu',
    built: residentLoop ? (name, bytes) => once(`built:${name}`, async () => ort.InferenceSession.create(await bytes())) : undefined,
    session: (file) => once(file, () => fileSession(file)),
  };
}
