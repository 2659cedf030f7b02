import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from '../../../models/onnx/fp16.ts';

describe('float16 conversion', () => {
  it('every float16 value round-trips exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = fromFloat16Bits(h);
      if (Number.isNaN(v)) expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(v)))).toBe(true);
      else expect(toFloat16Bits(v)).toBe(h === 0x8000 ? 0x8000 : h);
    }
  });

  it('rounds to the nearest float16 (relative error ≤ 2^-11 in the normal range)', () => {
    fc.assert(
      fc.property(fc.float({ min: Math.fround(6.2e-5), max: 65000, noNaN: true }), (x) => {
        const back = fromFloat16Bits(toFloat16Bits(x));
        expect(Math.abs(back - x) / Math.abs(x)).toBeLessThanOrEqual(2 ** -11);
      }),
      { numRuns: 5000 },
    );
  });

  it('ties go to even, overflow to infinity, tiny values to zero', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and the next float16: even is 1
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toFloat16Bits(70000)).toBe(0x7c00);
    expect(toFloat16Bits(-70000)).toBe(0xfc00);
    expect(toFloat16Bits(1e-9)).toBe(0);
    expect(fromFloat16Bits(toFloat16Bits(2 ** -20))).toBe(2 ** -20); // subnormal, exactly representable
  });
});
