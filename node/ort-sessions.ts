import * as ort from 'onnxruntime-node';
import type { SessionProvider } from '../models/pipeline/ort-runtime.ts';

/**
 * onnxruntime-node sessions for a bundle's files on the CPU, each created once on first use; `source` gives a
 * file's path on disk or its bytes (a bundle folder, or the edge client's verified cache).
 */
export function nodeSessions(source: (file: string) => string | Uint8Array | Promise<string | Uint8Array>): SessionProvider {
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  return {
    device: 'cpu',
    session(file) {
      let s = sessions.get(file);
      if (!s) {
        s = Promise.resolve(source(file)).then((from) =>
          typeof from === 'string' ? ort.InferenceSession.create(from) : ort.InferenceSession.create(from),
        );
        sessions.set(file, s);
      }
      return s;
    },
  };
}
