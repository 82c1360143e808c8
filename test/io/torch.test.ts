// PyTorch zip checkpoints: the fixture's two checkpoints must equal their safetensors twins exactly; a hand-built
// archive covers views (offset, transpose, scalar), half/long storages, Parameters and big-endian storages; and
// random damage to the real checkpoint must only ever produce a UserError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readTorchCheckpoint, torchStateDict } from '../../src/io/torch.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/dtype.js';
import { f32ToF16 } from '../../src/io/dtype.js';
import { UserError } from '../../src/util/errors.js';
import { fixturePath, mulberry } from './fixtures.js';
import { makeZip } from './zip-writer.js';
import { ZipArchive } from '../../src/io/zip.js';

function assertSameTensors(got: Map<string, HostTensor>, want: Map<string, HostTensor>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.equal(g.dtype, w.dtype, k);
    assert.deepEqual(g.shape, w.shape, k);
    assert.equal(g.data.constructor, w.data.constructor, k);
    assert.ok(Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)), `${k} differs`);
  }
}

test('pytorch_model.bin equals model.safetensors exactly', () => {
  assertSameTensors(torchStateDict(fixturePath('pytorch_model.bin')), readSafetensors(fixturePath('model.safetensors')));
});

test("nvlabs_checkpoint.pth['model'] equals nvlabs_state.safetensors exactly, num_batches_tracked included", () => {
  const obj = readTorchCheckpoint(fixturePath('nvlabs_checkpoint.pth')) as Map<string, unknown>;
  assert.ok(obj instanceof Map);
  assert.equal(obj.get('epoch'), 30);
  const sd = torchStateDict(fixturePath('nvlabs_checkpoint.pth'));
  assertSameTensors(sd, readSafetensors(fixturePath('nvlabs_state.safetensors')));
  const nbt = [...sd].find(([k]) => k.endsWith('num_batches_tracked'))![1];
  assert.equal(nbt.dtype, 'I64');
  assert.ok(nbt.data instanceof BigInt64Array);
});

// state_dict = OrderedDict(w=[[0,1,2],[3,4,5]] (storage 0), wt=its transpose (stride (1,3)),
// tail=Parameter(storage 0 from offset 4, size 2), h=half storage 1, n=long storage 2, s=scalar at offset 2);
// pickled as {'state_dict': sd, 'epoch': 3} by a CPython Pickler with torch's persistent ids and reducers.
const HAND: Record<number, string> = {
  2: '80027d710028580a00000073746174655f64696374710163636f6c6c656374696f6e730a4f726465726564446963740a71022952710328580100000077710463746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71052828580700000073746f72616765710663746f7263680a466c6f617453746f726167650a71075801000000307108580300000063707571094b0674710a514b004b024b0386710b4b034b0186710c8968022952710d74710e52710f5802000000777471106805282868066807680868094b06747111514b004b034b028671124b014b038671138968022952711474711552711658040000007461696c711763746f7263682e5f7574696c730a5f72656275696c645f706172616d657465720a71186805282868066807680868094b06747119514b044b0285711a4b0185711b8968022952711c74711d52711e8868022952711f877120527121580100000068712268052828680663746f7263680a48616c6653746f726167650a7123580100000031712468094b04747125514b004b04857126681b8968022952712774712852712958010000006e712a68052828680663746f7263680a4c6f6e6753746f726167650a712b580100000032712c68094b0274712d514b00681a681b8968022952712e74712f52713058010000007371316805282868066807680868094b06747132514b0229298968022952713374713452713575580500000065706f636871364b03752e',
  4: '800495c5010000000000007d94288c0a73746174655f64696374948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0177948c0c746f7263682e5f7574696c73948c125f72656275696c645f74656e736f725f763294939428288c0773746f72616765948c05746f726368948c0c466c6f617453746f726167659493948c0130948c03637075944b067494514b004b024b0386944b034b018694896804295294749452948c0277749468092828680a680d680e680f4b067494514b004b034b0286944b014b038694896804295294749452948c047461696c9468078c125f72656275696c645f706172616d6574657294939468092828680a680d680e680f4b067494514b044b0285944b01859489680429529474945294886804295294879452948c01689468092828680a680b8c0b48616c6653746f726167659493948c013194680f4b047494514b004b0485946822896804295294749452948c016e9468092828680a680b8c0b4c6f6e6753746f726167659493948c013294680f4b027494514b0068216822896804295294749452948c01739468092828680a680d680e680f4b067494514b02292989680429529474945294758c0565706f6368944b03752e',
};

function handArchive(proto: number, bigEndian: boolean): Buffer {
  const f32 = new Float32Array([0, 1, 2, 3, 4, 5]);
  const f16 = Uint16Array.from([1, -2, 0.5, 65504], f32ToF16);
  const i64 = new BigInt64Array([7n, -9n]);
  const bytes = (a: ArrayBufferView, item: number) => {
    const b = Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    if (bigEndian) for (let i = 0; i < b.length; i += item) b.subarray(i, i + item).reverse();
    return b;
  };
  const entries = [
    { name: 'hand/data.pkl', data: Buffer.from(HAND[proto], 'hex') },
    { name: 'hand/data/0', data: bytes(f32, 4) },
    { name: 'hand/data/1', data: bytes(f16, 2) },
    { name: 'hand/data/2', data: bytes(i64, 8) },
    { name: 'hand/version', data: Buffer.from('3\n') },
  ];
  if (bigEndian) entries.push({ name: 'hand/byteorder', data: Buffer.from('big') });
  return makeZip(entries);
}

for (const proto of [2, 4]) {
  for (const bigEndian of [false, true]) {
    test(`views, dtypes and parameters rebuild from a hand-built archive (protocol ${proto}, ${bigEndian ? 'big' : 'little'}-endian)`, () => {
      const sd = torchStateDict(handArchive(proto, bigEndian), 'hand.pth');
      assert.deepEqual([...sd.keys()], ['w', 'wt', 'tail', 'h', 'n', 's']);
      const get = (k: string) => sd.get(k)!;
      assert.deepEqual(get('w').shape, [2, 3]);
      assert.deepEqual([...get('w').data], [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(get('wt').shape, [3, 2]);
      assert.deepEqual([...get('wt').data], [0, 3, 1, 4, 2, 5]);
      assert.deepEqual([...get('tail').data], [4, 5]);
      assert.equal(get('h').dtype, 'F16');
      assert.deepEqual([...get('h').data], [1, -2, 0.5, 65504]);
      assert.deepEqual(get('n').data, new BigInt64Array([7n, -9n]));
      assert.deepEqual(get('s').shape, []);
      assert.deepEqual([...get('s').data], [2]);
    });
  }
}

test('a storage too small for its view, and a legacy raw pickle, are refused with one sentence', () => {
  const short = makeZip([
    { name: 'hand/data.pkl', data: Buffer.from(HAND[2], 'hex') },
    { name: 'hand/data/0', data: Buffer.alloc(8) },
    { name: 'hand/data/1', data: Buffer.alloc(8) },
    { name: 'hand/data/2', data: Buffer.alloc(16) },
  ]);
  assert.throws(() => torchStateDict(short, 'short.pth'), (e: unknown) => e instanceof UserError && /short\.pth/.test(e.message));
  assert.throws(() => readTorchCheckpoint(Buffer.from('80027d71002e', 'hex'), 'old.pth'), /legacy/);
  assert.throws(() => torchStateDict(makeZip([{ name: 'x/version', data: Buffer.from('3') }]), 'empty.pth'), /data\.pkl/);
});

test('300 random truncations and byte flips of the checkpoint either load or throw UserError', () => {
  const orig = readFileSync(fixturePath('nvlabs_checkpoint.pth'));
  const rand = mulberry(1234);
  let loaded = 0;
  let refused = 0;
  const t0 = Date.now();
  for (let i = 0; i < 300; i++) {
    let buf: Buffer;
    if (i % 3 === 0) {
      buf = orig.subarray(0, Math.floor(rand() * orig.length));
    } else {
      buf = Buffer.from(orig);
      // Flip bytes mostly in the pickle and the central directory, where damage changes control flow.
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        const region = rand();
        const at =
          region < 0.45 ? 30 + 64 + Math.floor(rand() * 24421) // inside data.pkl (stored, after its local header)
          : region < 0.8 ? orig.length - 1 - Math.floor(rand() * 20000) // central directory and end record
          : Math.floor(rand() * orig.length);
        buf[at] ^= 1 + Math.floor(rand() * 255);
      }
    }
    try {
      torchStateDict(buf, `fuzz-${i}.pth`);
      loaded++;
    } catch (e) {
      if (!(e instanceof UserError)) assert.fail(`mutation ${i} threw ${String(e)}\n${(e as Error).stack}`);
      assert.match(e.message, new RegExp(`fuzz-${i}\\.pth`));
      refused++;
    }
  }
  assert.equal(loaded + refused, 300);
  assert.ok(refused > 100, `only ${refused} mutations were refused`);
  assert.ok(Date.now() - t0 < 8000, 'fuzzing took too long');
});

test('300 random mutations of data.pkl, repacked with valid CRCs, either load or throw UserError', () => {
  // The zip CRC catches raw flips before the unpickler sees them, so this exercises the VM and tensor rebuilding.
  const z = ZipArchive.open(fixturePath('nvlabs_checkpoint.pth'));
  const entries = [...z.entries.keys()].map((name) => ({ name, data: z.read(name) }));
  z.close();
  const pkl = entries.find((e) => e.name.endsWith('data.pkl'))!;
  const orig = Buffer.from(pkl.data);
  const rand = mulberry(99);
  let loaded = 0;
  for (let i = 0; i < 300; i++) {
    let mutated: Buffer;
    if (i % 4 === 0) {
      mutated = orig.subarray(0, Math.floor(rand() * orig.length));
    } else {
      mutated = Buffer.from(orig);
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) mutated[Math.floor(rand() * orig.length)] ^= 1 + Math.floor(rand() * 255);
    }
    const buf = makeZip(entries.map((e) => (e === pkl ? { name: e.name, data: mutated } : e)));
    try {
      torchStateDict(buf, `pkl-${i}.pth`);
      loaded++;
    } catch (e) {
      if (!(e instanceof UserError)) assert.fail(`mutation ${i} threw ${String(e)}\n${(e as Error).stack}`);
    }
  }
  assert.ok(loaded < 300);
});
