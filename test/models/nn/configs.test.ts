import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../models/errors.ts';
import {
  validateImageEncoderConfig,
  validateTextEncoderConfig,
  validateUnetConfig,
  validateVaeConfig,
  vaeDownFactor,
} from '../../../models/nn/configs.ts';
import { flopCounter } from '../../../models/nn/flops.ts';
import { unet } from '../../../models/nn/unet.ts';
import { TINY } from '../../support/tiny-networks.ts';

describe('network configs fail early with clear errors', () => {
  it('channels not divisible by groups', () => {
    const bad = { ...TINY.unet, levels: [{ channels: 20, resBlocks: 1, attention: 'none' }] };
    expect(() => validateUnetConfig(bad)).toThrow(InvalidArgumentError);
    expect(() => validateUnetConfig(bad)).toThrow('unet.levels[0].channels: 20 channels are not divisible by 8 groups');
    expect(() => validateVaeConfig({ ...TINY.vae, channels: [16, 30] })).toThrow(
      'vae.channels[1]: 30 channels are not divisible by 8 groups',
    );
    expect(() => validateImageEncoderConfig({ ...TINY.image, channels: [12] })).toThrow(/imageEncoder.channels\[0\]: 12 channels/);
  });

  it('unknown layer type', () => {
    const bad = { ...TINY.unet, levels: [{ channels: 16, resBlocks: 1, attention: 'conv-attention' }] };
    expect(() => validateUnetConfig(bad)).toThrow(InvalidArgumentError);
    expect(() => validateUnetConfig(bad)).toThrow(
      "unet.levels[0].attention: unknown layer type 'conv-attention' (expected none, self, self+cross)",
    );
  });

  it('heads, cross-attention without a context, odd embeddings, missing and mistyped fields', () => {
    expect(() => validateTextEncoderConfig({ ...TINY.text, heads: 5 })).toThrow(
      'textEncoder.width: 32 channels are not divisible by 5 heads',
    );
    expect(() => validateTextEncoderConfig({ ...TINY.text, padId: 50 })).toThrow(/padId: 50 is outside the vocabulary/);
    expect(() => validateUnetConfig({ ...TINY.unet, contextDim: 0 })).toThrow(
      'unet.levels[1].attention: cross-attention needs contextDim > 0',
    );
    expect(() => validateUnetConfig({ ...TINY.upscaler, contextLayers: 1 })).toThrow(
      'unet.contextLayers: context layers need contextDim > 0',
    );
    expect(() => validateUnetConfig({ ...TINY.upscaler, pooledContext: true })).toThrow(
      'unet.pooledContext: a pooled context needs contextDim > 0',
    );
    expect(() => validateUnetConfig({ ...TINY.unet, contextDim: 30 })).toThrow('unet.contextDim: 30 channels are not divisible by 4 heads');
    expect(() => validateUnetConfig({ ...TINY.unet, timeEmbedDim: 33 })).toThrow('unet.timeEmbedDim: must be even, got 33');
    const { groups: _groups, ...missing } = TINY.unet;
    expect(() => validateUnetConfig(missing)).toThrow(/unet.groups: Required/);
    expect(() => validateVaeConfig({ ...TINY.vae, latentChannels: 2.5 })).toThrow(/vae.latentChannels: Expected integer/);
    expect(() => validateImageEncoderConfig({ ...TINY.image, imageSize: 18 })).toThrow(/18 is not divisible by 2\^2/);
  });

  it('the VAE downsampling factor follows the number of resolutions', () => {
    expect(vaeDownFactor(TINY.vae)).toBe(4);
    expect(vaeDownFactor({ ...TINY.vae, channels: [16, 16, 32, 32] })).toBe(8);
  });

  it('missing U-Net inputs are typed errors, not tfjs failures', () => {
    const { ops } = flopCounter();
    expect(() => unet(ops, TINY.unet, { sample: { shape: [1, 8, 8, 4] }, timestep: { shape: [1] } })).toThrow(
      /inputs.context: this U-Net reads the text; pass the text hidden states/,
    );
    expect(() =>
      unet(ops, TINY.upscaler, { sample: { shape: [1, 16, 16, 3] }, timestep: { shape: [1] }, noiseLevel: { shape: [1] } }),
    ).toThrow(/inputs.lowRes/);
  });

  it('the FLOP counter sees the output shape the networks produce', () => {
    const { ops, flops } = flopCounter();
    const out = unet(ops, TINY.unet, { sample: { shape: [2, 8, 8, 4] }, timestep: { shape: [2] }, context: { shape: [2, 8, 32] } });
    expect(out.shape).toEqual([2, 8, 8, 4]);
    // conv_in alone is 2·2·8·8·3·3·4·16 FLOPs; the whole network is far more.
    expect(flops()).toBeGreaterThan(2 * 2 * 64 * 9 * 4 * 16 * 10);
  });
});
