import type { Manifest } from '../../../models/bundle/manifest.ts';
import type { SessionProvider } from '../../../models/pipeline/ort-runtime.ts';
import type { Env } from '../env.ts';
import { getFileBytes } from './bundles.ts';
import { workerdOrt } from './ort-workerd.ts';

/** onnxruntime-web sessions in workerd (one WASM thread) for a published bundle's files, read from R2 once. */
export function edgeSessions(env: Env, manifest: Manifest): SessionProvider {
  const ort = workerdOrt();
  const sessions = new Map<string, ReturnType<typeof ort.InferenceSession.create>>();
  return {
    device: 'wasm',
    session(file) {
      let s = sessions.get(file);
      if (!s) {
        s = getFileBytes(env, manifest, file).then((bytes) => ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] }));
        sessions.set(file, s);
      }
      return s;
    },
  };
}
