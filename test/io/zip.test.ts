// The zip reader on stored, deflated and zip64 archives, and on damage it must report instead of crashing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZipArchive } from '../../src/io/zip.js';
import { UserError } from '../../src/util/errors.js';
import { crc32, crc32Js } from '../../src/util/crc32.js';
import { makeZip } from './zip-writer.js';
import { fixturePath } from './fixtures.js';

const text = (s: string) => new TextEncoder().encode(s);
const big = text('GroupViT '.repeat(2000));

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(text('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32Js(text('123456789')), 0xcbf43926);
  assert.equal(crc32Js(text('GroupViT ').subarray(2), 77), crc32(text('GroupViT ').subarray(2), 77));
});

for (const zip64 of [false, true]) {
  test(`stored and deflated entries read back (zip64 ${zip64})`, () => {
    const buf = makeZip(
      [
        { name: 'a/data.pkl', data: text('hello') },
        { name: 'a/data/0', data: big, deflate: true },
        { name: 'empty', data: new Uint8Array(0), deflate: true },
      ],
      zip64,
    );
    const z = ZipArchive.open(buf, 'test.zip');
    assert.deepEqual([...z.entries.keys()], ['a/data.pkl', 'a/data/0', 'empty']);
    assert.equal(new TextDecoder().decode(z.read('a/data.pkl')), 'hello');
    assert.ok(Buffer.from(z.read('a/data/0')).equals(big));
    assert.equal(z.entries.get('a/data/0')!.compressedSize < big.length, true);
    assert.equal(z.read('empty').byteLength, 0);
    assert.throws(() => z.read('nope'), UserError);
  });
}

test('the fixture checkpoints list their entries under one archive folder', () => {
  const z = ZipArchive.open(fixturePath('nvlabs_checkpoint.pth'));
  try {
    assert.ok(z.has('nvlabs_checkpoint/data.pkl'));
    assert.ok(z.has('nvlabs_checkpoint/version'));
    assert.equal(new TextDecoder().decode(z.read('nvlabs_checkpoint/version')).trim(), '3');
  } finally {
    z.close();
  }
});

test('damaged archives fail with a UserError naming them', () => {
  const buf = makeZip([{ name: 'x', data: big, deflate: true }, { name: 'y', data: text('abc') }]);
  const expectUserError = (b: Uint8Array, why: string) => {
    try {
      const z = ZipArchive.open(b, 'bad.zip');
      for (const name of z.entries.keys()) z.read(name);
    } catch (e) {
      assert.ok(e instanceof UserError, `${why}: ${String(e)}`);
      assert.match(e.message, /bad\.zip/);
      return;
    }
    assert.fail(`${why}: no error`);
  };
  expectUserError(buf.subarray(0, 10), 'tiny');
  expectUserError(buf.subarray(0, buf.length - 1), 'truncated end record');
  expectUserError(buf.subarray(40), 'truncated start');
  const crcFlip = Buffer.from(buf);
  crcFlip[30 + 1 + 5] ^= 0xff; // inside x's deflate stream
  expectUserError(crcFlip, 'flipped data');
  const storedFlip = Buffer.from(buf);
  storedFlip[storedFlip.indexOf('abc')] ^= 1;
  expectUserError(storedFlip, 'flipped stored byte');
  const dup = makeZip([{ name: 'x', data: text('1') }, { name: 'x', data: text('2') }]);
  expectUserError(dup, 'duplicate names');
  expectUserError(text('not a zip at all, just text that goes on for a while'), 'not a zip');
});
