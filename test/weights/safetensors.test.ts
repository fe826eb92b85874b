import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { f32, i64Scalar, type StateDict } from '../../src/weights/tensor.js';
import { sharedPath } from '../helpers/shared.js';

describe('safetensors', () => {
  it('round-trips tensors, order and metadata', () => {
    const sd: StateDict = new Map();
    sd.set('b.weight', f32([2, 3], [1, 2, 3, 4, 5, 6]));
    sd.set('a.num_batches_tracked', i64Scalar(7));
    sd.set('c', { dtype: 'F16', shape: [1], data: Uint16Array.of(0x3c00) });
    const bytes = writeSafetensors(sd, { format: 'pt' });
    const back = readSafetensors(bytes);
    expect([...back.tensors.keys()]).toEqual(['b.weight', 'a.num_batches_tracked', 'c']);
    expect([...back.tensors.get('b.weight')!.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.get('a.num_batches_tracked')!.data[0]).toBe(7n);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
  });
  it('reads a Node Buffer whose view starts inside a larger ArrayBuffer', () => {
    const file = readFileSync(sharedPath('golden', 'repghostnet_0_5x', 'deploy.safetensors'));
    const padded = Buffer.concat([Buffer.alloc(13), file]).subarray(13);
    const a = readSafetensors(padded).tensors.get('bn1.num_batches_tracked')!;
    const b = readSafetensors(new Uint8Array(file)).tensors.get('bn1.num_batches_tracked')!;
    expect(a.data[0]).toBe(b.data[0]);
  });
  const bad: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /too short/],
    ['header longer than file', Uint8Array.of(0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x7b), /exceeds the file size/],
    [
      'header not JSON',
      (() => {
        const b = new Uint8Array(12);
        b[0] = 4;
        b.set([0x7b, 0x7b, 0x7b, 0x7b], 8);
        return b;
      })(),
      /not valid JSON|nests deeper/,
    ],
  ];
  for (const [name, bytes, msg] of bad) it(`rejects ${name}`, () => expect(() => readSafetensors(bytes)).toThrow(msg));
  it('rejects offsets beyond the data and shape/size disagreement', () => {
    const mk = (entry: object) => {
      const h = new TextEncoder().encode(JSON.stringify({ t: entry }));
      const b = new Uint8Array(8 + h.length + 8);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      return b;
    };
    expect(() => readSafetensors(mk({ dtype: 'F32', shape: [4], data_offsets: [0, 16] }))).toThrow(
      /exceeds the 8 data bytes/,
    );
    expect(() => readSafetensors(mk({ dtype: 'F32', shape: [3], data_offsets: [0, 8] }))).toThrow(/needs 12 bytes/);
    expect(() => readSafetensors(mk({ dtype: 'Q4', shape: [1], data_offsets: [0, 1] }))).toThrow(/unsupported dtype/);
    expect(() => readSafetensors(mk({ dtype: 'F32', shape: [1e300, 1e300], data_offsets: [0, 8] }))).toThrow(
      /bad shape|needs/,
    );
  });
});
