import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { floatToRgba, rgbaToFloat, type FloatImage } from '../models/image.ts';

/** Decode PNG or JPEG bytes (by signature) into a float image; throws on anything else or corrupt data. */
export function decodeImage(bytes: Uint8Array): FloatImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) {
    const png = PNG.sync.read(buf);
    return rgbaToFloat(png.data, png.width, png.height);
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 256 });
    return rgbaToFloat(img.data, img.width, img.height);
  }
  throw new Error('not a PNG or JPEG file');
}

export function encodePng(img: FloatImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(floatToRgba(img).buffer);
  return PNG.sync.write(png);
}
