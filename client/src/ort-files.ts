/**
 * The onnxruntime-web runtime each visitor downloads: the WebGPU build (1.23: the asyncify wasm, 24 MiB,
 * which also runs the WASM provider) only where WebGPU will be tried, the plain wasm build (12 MiB)
 * otherwise. client/build.ts copies both into ort/, where the worker points ORT.
 */
export const ORT_WASM = { webgpu: 'ort-wasm-simd-threaded.asyncify.wasm', wasm: 'ort-wasm-simd-threaded.wasm' } as const;

/** ort/sizes.json: each runtime's size in bytes, written by the build. */
export const ORT_SIZES = 'sizes.json';
