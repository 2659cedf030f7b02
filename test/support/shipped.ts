import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.ts';

/** The image size of a bundle in models/bundles: tests follow the shipped model rather than a copy of its number. */
export function shippedImageSize(name: string): number {
  return (JSON.parse(readFileSync(join(ROOT, 'models/bundles', name, 'manifest.json'), 'utf8')) as { imageSize: number }).imageSize;
}
