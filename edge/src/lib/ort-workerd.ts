import * as ort from 'onnxruntime-web/wasm';
// workerd compiles no wasm from bytes at run time; wrangler turns this import into a precompiled module.
import ortWasm from '../../../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm';

let patched = false;

/**
 * onnxruntime-web inside workerd. Its emscripten loader calls WebAssembly.instantiate(bytes), which
 * workerd forbids; so ORT gets a placeholder binary and instantiate is redirected to the module that
 * wrangler compiled at deploy time. One thread: Workers have no wasm threads.
 */
export function workerdOrt(): typeof ort {
  if (!patched) {
    const original = WebAssembly.instantiate.bind(WebAssembly);
    const redirect = async (source: unknown, imports?: WebAssembly.Imports) => {
      if (source instanceof WebAssembly.Module) return original(source, imports);
      const instance = await original(ortWasm, imports);
      return { instance, module: ortWasm };
    };
    // Typed loosely: instantiate's two overloads cannot be expressed by one arrow function.
    (WebAssembly as unknown as { instantiate: typeof redirect }).instantiate = redirect;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = new Uint8Array(8);
    patched = true;
  }
  return ort;
}
