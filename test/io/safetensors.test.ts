// safetensors: round trips of every dtype, the fixture's files, and one UserError sentence per kind of damage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, readSafetensors, readSafetensorsFile, toFloat32, writeSafetensors } from '../../src/io/safetensors.js';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/dtype.js';
import { UserError } from '../../src/util/errors.js';
import { fixturePath } from './fixtures.js';

/** A file image with a hand-written header, for the malformed cases. */
function rawFile(header: unknown, dataBytes: number, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + dataBytes);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  return out;
}

function rejects(buf: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readSafetensors(buf, 'broken.safetensors'),
    (e: unknown) => e instanceof UserError && /broken\.safetensors/.test(e.message) && pattern.test(e.message),
  );
}

test('every dtype round-trips through write and read, with metadata and an 8-aligned header', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'all.safetensors');
    writeSafetensors(
      path,
      {
        f32: { dtype: 'F32', shape: [2, 3], data: [1.5, -2, 3, 0, 1e-8, -1e30] },
        f16: { dtype: 'F16', shape: [3], data: [1, -0.5, 65504] },
        bf16: { dtype: 'BF16', shape: [2], data: [1, -3.5] },
        f64: { dtype: 'F64', shape: [2], data: [0.25, -1] },
        i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([1n, -2n, 9007199254740993n]) },
        i32: { dtype: 'I32', shape: [2], data: [-7, 2147483647] },
        u8: { dtype: 'U8', shape: [1, 3], data: [0, 128, 255] },
        bool: { dtype: 'BOOL', shape: [2], data: [1, 0] },
        scalar: { dtype: 'F32', shape: [], data: [42] },
        empty: { dtype: 'F32', shape: [0, 4], data: [] },
      },
      { format: 'pt', note: 'hi' },
    );
    assert.deepEqual(readdirSync(dir), ['all.safetensors'], 'the temporary file is renamed away');
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const { tensors: t, metadata } = readSafetensorsFile(path);
    assert.deepEqual(metadata, { format: 'pt', note: 'hi' });
    assert.deepEqual([...t.get('f32')!.data], [...Float32Array.from([1.5, -2, 3, 0, 1e-8, -1e30])]);
    assert.deepEqual(t.get('f32')!.shape, [2, 3]);
    assert.deepEqual([...t.get('f16')!.data], [1, -0.5, 65504]);
    assert.equal(t.get('f16')!.dtype, 'F16');
    assert.deepEqual([...t.get('bf16')!.data], [1, -3.5]);
    assert.deepEqual([...t.get('f64')!.data], [0.25, -1]);
    assert.deepEqual(t.get('i64')!.data, new BigInt64Array([1n, -2n, 9007199254740993n]));
    assert.deepEqual(t.get('i32')!.data, new Int32Array([-7, 2147483647]));
    assert.deepEqual(t.get('u8')!.data, new Uint8Array([0, 128, 255]));
    assert.deepEqual(t.get('bool')!.data, new Uint8Array([1, 0]));
    assert.deepEqual(t.get('scalar')!.shape, []);
    assert.deepEqual([...t.get('scalar')!.data], [42]);
    assert.equal(t.get('empty')!.data.length, 0);
    assert.deepEqual([...toFloat32(t.get('i64')!)], [1, -2, 9007199254740992]);
    assert.deepEqual([...toFloat32(t.get('u8')!)], [0, 128, 255]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('half and bfloat16 conversions round to nearest even and keep specials', () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(65520), 0x7c00); // rounds up to Inf
  assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16(2 ** -25), 0x0000); // the tie rounds to even (zero)
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie to even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
  assert.equal(f16ToF32(0xfc00), -Infinity);
  for (let h = 0; h < 0x7c00; h += 7) assert.equal(f32ToF16(f16ToF32(h)), h, `half ${h}`);
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie to even
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
});

test('the fixture weight files read with the documented dtypes', () => {
  const hf = readSafetensors(fixturePath('model.safetensors'));
  assert.ok(hf.size > 100);
  for (const [k, t] of hf) assert.equal(t.dtype, 'F32', k);
  assert.deepEqual(hf.get('vision_model.embeddings.position_embeddings')?.shape.length, 3);
  const nv = readSafetensors(fixturePath('nvlabs_state.safetensors'));
  const nbt = [...nv].filter(([k]) => k.endsWith('num_batches_tracked'));
  assert.ok(nbt.length > 0);
  for (const [, t] of nbt) assert.equal(t.dtype, 'I64');
  const inputs = readSafetensors(fixturePath('inputs.safetensors'));
  assert.equal(inputs.get('image_u8')?.dtype, 'U8');
  assert.equal(inputs.get('input_ids')?.dtype, 'I64');
});

test('malformed files fail with one sentence naming the file', () => {
  rejects(new Uint8Array(4), /shorter/);
  const tooLong = rawFile({}, 0);
  tooLong.writeBigUInt64LE(1000n, 0);
  rejects(tooLong, /past the end/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(2n ** 63n, 0);
  rejects(huge, /past the end/);
  rejects(rawFile(null, 0, '{"a": [1,'), /JSON/);
  rejects(rawFile([1, 2], 0), /not a JSON object/);
  rejects(rawFile({ a: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype/);
  rejects(rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /invalid shape/);
  rejects(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /only 4 data bytes/);
  rejects(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 8), /needs 8/);
  rejects(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 8), /invalid data_offsets/);
  rejects(
    rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8),
    /overlap/,
  );
  rejects(rawFile({ __metadata__: { a: 1 } }, 0), /__metadata__/);
  // truncating a valid file anywhere must also be a UserError
  const good = encodeSafetensors({ x: { dtype: 'F32', shape: [4], data: [1, 2, 3, 4] } });
  for (let cut = 0; cut < good.byteLength; cut++) {
    assert.throws(() => readSafetensors(good.subarray(0, cut), 'cut'), UserError, `cut at ${cut}`);
  }
  assert.throws(() => readSafetensors('/nonexistent/x.safetensors'), (e: unknown) => e instanceof UserError && /x\.safetensors/.test(e.message));
});

test('the writer refuses inconsistent tensors and leaves no temporary file behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'w.safetensors');
    assert.throws(() => writeSafetensors(path, { a: { dtype: 'F32', shape: [3], data: [1, 2] } }), UserError);
    assert.equal(existsSync(path), false);
    assert.throws(() => writeSafetensors(join(dir, 'missing', 'w.safetensors'), { a: { dtype: 'F32', shape: [1], data: [1] } }), UserError);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
