import { describe, expect, it } from 'vitest';
import { FrameDecoder, encodeFrame, type Frame } from '../../src/index.js';

describe('codec round trip', () => {
  it('decodes what it encodes, cut at every byte', () => {
    const frame: Frame = {
      kind: 'data',
      id: 'IPv4,10.0.0.7,33046',
      family: 'IPv4',
      address: '10.0.0.7',
      port: 33046,
      service: 'https',
      serviceport: 8443,
      name: 'example.com',
      data: new Uint8Array([1, 2, 3]),
    };
    const bytes = encodeFrame(frame);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
      expect(frames).toHaveLength(1);
      expect({ ...frames[0], data: [...frames[0]!.data] }).toEqual({ ...frame, data: [1, 2, 3] });
    }
  });
});
