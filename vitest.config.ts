import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    // The statistical sampler tests and ONNX parity runs are CPU-bound: two cores here.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
