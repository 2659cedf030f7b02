import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    // The statistical sampler tests and ONNX parity runs are CPU-bound: two cores here.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Tests must not depend on each other's order: they run shuffled, with a fixed seed so a failure replays.
    sequence: { shuffle: true, seed: 20261126 },
  },
});
