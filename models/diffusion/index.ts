export * from './schedule.ts';
export * from './forward.ts';
export * from './prediction.ts';
export * from './rng.ts';
export * from './guidance.ts';
export * from './samplers/index.ts';
