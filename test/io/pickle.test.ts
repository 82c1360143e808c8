// The pickle VM on pickles produced by CPython (protocols 2–5), and its refusal to resolve arbitrary globals.
// The hex strings were made with pickle.dumps in CPython 3.11 (see the comments for the source objects).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpickle } from '../../src/io/pickle.js';
import { UserError } from '../../src/util/errors.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const opts = { label: 'test.pkl', globals: {} };

// {'a':[1,2.5,None,True,False,'xé'],'b':(1,2,3),'big':2**70,'neg':-5,'n300':300,'n70000':70000,'m':-2**31,'t1':(7,),'empty':()} (+ 'by': b'hi' from protocol 3)
const DATA: Record<number, string> = {
  2: '80027d71002858010000006171015d7102284b014740040000000000004e8889580300000078c3a971036558010000006271044b014b024b03877105580300000062696771068a0900000000000000004058030000006e656771074afbffffff58040000006e33303071084d2c0158060000006e373030303071094a7011010058010000006d710a4a0000008058020000007431710b4b0785710c5805000000656d707479710d29752e',
  3: '80037d71002858010000006171015d7102284b014740040000000000004e8889580300000078c3a971036558010000006271044b014b024b03877105580300000062696771068a0900000000000000004058030000006e656771074afbffffff58040000006e33303071084d2c0158060000006e373030303071094a7011010058010000006d710a4a0000008058020000006279710b43026869710c58020000007431710d4b0785710e5805000000656d707479710f29752e',
  4: '80049586000000000000007d94288c0161945d94284b014740040000000000004e88898c0378c3a994658c0162944b014b024b0387948c03626967948a090000000000000000408c036e6567944afbffffff8c046e333030944d2c018c066e3730303030944a701101008c016d944a000000808c0262799443026869948c027431944b0785948c05656d7074799429752e',
  5: '80059586000000000000007d94288c0161945d94284b014740040000000000004e88898c0378c3a994658c0162944b014b024b0387948c03626967948a090000000000000000408c036e6567944afbffffff8c046e333030944d2c018c066e3730303030944a701101008c016d944a000000808c0262799443026869948c027431944b0785948c05656d7074799429752e',
};
// os.system('echo pwned') via __reduce__
const EVIL2 = '800263706f7369780a73797374656d0a7100580a0000006563686f2070776e656471018571025271032e';
const EVIL4 = '80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e';

for (const proto of [2, 3, 4, 5]) {
  test(`plain data round-trips from protocol ${proto}`, () => {
    const v = unpickle(hex(DATA[proto]), opts) as Map<string, unknown>;
    assert.ok(v instanceof Map);
    assert.deepEqual(v.get('a'), [1, 2.5, null, true, false, 'xé']);
    assert.deepEqual(v.get('b'), [1, 2, 3]);
    assert.ok(Object.isFrozen(v.get('b')), 'tuples are frozen');
    assert.equal(v.get('big'), 2n ** 70n);
    assert.equal(v.get('neg'), -5);
    assert.equal(v.get('n300'), 300);
    assert.equal(v.get('n70000'), 70000);
    assert.equal(v.get('m'), -(2 ** 31));
    assert.deepEqual(v.get('t1'), [7]);
    assert.deepEqual(v.get('empty'), []);
    if (proto >= 3) assert.deepEqual(v.get('by'), new Uint8Array([0x68, 0x69]));
  });
}

test('a global that is not allow-listed is refused by name, never called', () => {
  for (const evil of [EVIL2, EVIL4]) {
    assert.throws(
      () => unpickle(hex(evil), opts),
      (e: unknown) => e instanceof UserError && /posix\.system/.test(e.message) && /test\.pkl/.test(e.message),
    );
  }
});

test('allow-listed globals run their JS stand-in', () => {
  let called = 0;
  const v = unpickle(hex(EVIL2), { label: 'x', globals: { 'posix.system': (args) => (called++, `ran ${String(args[0])}`) } });
  assert.equal(v, 'ran echo pwned');
  assert.equal(called, 1);
});

test('truncations and junk end in UserError, not another exception', () => {
  const full = hex(DATA[4]);
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(() => unpickle(full.subarray(0, cut), opts), UserError, `cut at ${cut}`);
  }
  assert.throws(() => unpickle(hex('80026800'), opts), /memo slot/); // BINGET of an empty memo
  assert.throws(() => unpickle(hex('8002ff'), opts), /opcode 0xff/);
  assert.throws(() => unpickle(hex('80027573'), opts), UserError); // SETITEMS without a mark
  assert.throws(() => unpickle(hex('8002294b0152'), opts), UserError); // calling a non-global
  assert.throws(() => unpickle(hex('8006'), opts), /protocol/);
});
