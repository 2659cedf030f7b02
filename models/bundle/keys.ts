import { bundlePathSchema, modelNameSchema, versionSchema } from './manifest.ts';

/**
 * R2 key layout, shared by the publisher and the edge. Versions are content hashes, so every key under
 * models/<name>/<version>/ is immutable; models/<name>/latest is the only mutable object.
 */
export const fileKey = (name: string, version: string, path: string) =>
  `models/${modelNameSchema.parse(name)}/${versionSchema.parse(version)}/files/${bundlePathSchema.parse(path)}`;
export const manifestKey = (name: string, version: string) =>
  `models/${modelNameSchema.parse(name)}/${versionSchema.parse(version)}/manifest.json`;
export const latestKey = (name: string) => `models/${modelNameSchema.parse(name)}/latest`;
