// `groupvit convert` and `--weights` with PyTorch files: the fixture's NVlabs .pth and Hugging Face pytorch_model.bin
// (made by the official code) must convert to a Hugging Face safetensors folder that passes parity exactly like the
// fixture's own model.safetensors; bad inputs end in one sentence that names the problem.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { runParity, type ParityRow } from '../../src/model/parity.js';
import { convertModel } from '../../src/model/convert.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { presetConfig } from '../../src/model/presets.js';
import { modelTensors } from '../../src/model/weights.js';
import { readSafetensors, readSafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';
import { UserError } from '../../src/util/errors.js';

useGpu();

const FIXTURE = join(process.cwd(), '..', 'shared', 'fixtures', 'groupvit-tiny');
const PARITY_FILES = ['fixture.json', 'inputs.safetensors', 'expected.safetensors'];

const made: string[] = [];
after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `gv-convert-${tag}-`));
  made.push(dir);
  return dir;
}

/** A folder holding the given fixture files (copied). */
function folderWith(files: string[]): string {
  const dir = tmp('in');
  for (const f of files) copyFileSync(join(FIXTURE, f), join(dir, f));
  return dir;
}

function assertAllPass(rows: ParityRow[]): void {
  const fixture = JSON.parse(readFileSync(join(FIXTURE, 'fixture.json'), 'utf8'));
  assert.equal(rows.length, fixture.tensors.length, 'every fixture tensor is compared');
  const failed = rows.filter((r) => !r.pass).map((r) => `${r.name} (${r.note || r.maxAbsErr})`);
  assert.deepEqual(failed, [], `tensors off the reference: ${failed.join(', ')}`);
}

/** The converted folder's tensors equal the fixture's model.safetensors, name for name and bit for bit. */
function assertSameAsFixture(dir: string): void {
  const file = readSafetensorsFile(join(dir, 'model.safetensors'));
  assert.equal(file.metadata.format, 'pt', 'transformers needs format=pt');
  const want = readSafetensors(join(FIXTURE, 'model.safetensors'));
  assert.deepEqual([...file.tensors.keys()].sort(), [...want.keys()].sort());
  for (const [k, t] of file.tensors) {
    assert.equal(t.dtype, 'F32', k);
    assert.deepEqual(t.shape, want.get(k)!.shape, k);
    assert.deepEqual(t.data, want.get(k)!.data, k);
  }
}

function isOneSentence(e: unknown, pattern: RegExp): boolean {
  return e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n') && /\.$/.test(e.message);
}

test('NVlabs .pth → convert → Hugging Face folder passes parity', async () => {
  const out = join(tmp('pth'), 'model');
  const r = await convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), out);
  assert.equal(r.configSource, join(FIXTURE, 'config.json'), 'the config.json beside the .pth is used');
  assert.deepEqual(r.written, ['model.safetensors', 'config.json']);
  assert.equal(r.tensors, 212);
  assert.deepEqual(readFileSync(join(out, 'config.json')), readFileSync(join(FIXTURE, 'config.json')), 'config.json copied as is');
  assertSameAsFixture(out);
  const names = [...readSafetensors(join(out, 'model.safetensors')).keys()];
  assert.ok(names.includes('visual_projection.1.running_var') && names.includes('text_projection.1.running_mean'), 'BatchNorm statistics kept');
  assert.ok(!names.some((n) => /num_batches_tracked|multi_label_logit_scale/.test(n)));
  assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp')), [], 'no temporary files left');
  for (const f of PARITY_FILES) copyFileSync(join(FIXTURE, f), join(out, f));
  assertAllPass(await runParity(out));
});

test('pytorch_model.bin and the NVlabs .pth pass parity through --weights', async () => {
  assertAllPass(await runParity(FIXTURE, { weights: join(FIXTURE, 'pytorch_model.bin') }));
  assertAllPass(await runParity(FIXTURE, { weights: join(FIXTURE, 'nvlabs_checkpoint.pth') }));
});

test('a Hugging Face folder with pytorch_model.bin converts, tokenizer files travel, and the result converts again', async () => {
  const hf = folderWith(['config.json', 'pytorch_model.bin']);
  writeFileSync(join(hf, 'vocab.json'), '{"a</w>": 0}');
  writeFileSync(join(hf, 'merges.txt'), '#version: 0.2\n');
  const out = join(tmp('bin'), 'out');
  const r = await convertModel(hf, out);
  assert.equal(r.weightsFile, join(hf, 'pytorch_model.bin'));
  assert.deepEqual(r.written, ['vocab.json', 'merges.txt', 'model.safetensors', 'config.json']);
  assert.equal(readFileSync(join(out, 'vocab.json'), 'utf8'), '{"a</w>": 0}');
  assertSameAsFixture(out);
  // our own folder (config.json + model.safetensors) is an input too
  const again = join(tmp('again'), 'out');
  await convertModel(out, again);
  assertSameAsFixture(again);
  assert.ok(existsSync(join(again, 'merges.txt')));
  // a separate tokenizer folder
  const tok = tmp('tok');
  writeFileSync(join(tok, 'bpe_simple_vocab_16e6.txt.gz'), Buffer.from([0x1f, 0x8b]));
  const third = join(tmp('third'), 'out');
  const r3 = await convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), third, { tokenizer: tok });
  assert.deepEqual(r3.written, ['bpe_simple_vocab_16e6.txt.gz', 'model.safetensors', 'config.json']);
  await assert.rejects(convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), join(tmp('x'), 'o'), { tokenizer: hf + '-nope' }), (e) =>
    isOneSentence(e, /tokenizer folder .* does not exist/),
  );
});

test('training counters and recomputed buffers are dropped, other dtypes become F32', async () => {
  const dir = folderWith(['config.json']);
  const state = readSafetensors(join(FIXTURE, 'model.safetensors'));
  const ln = state.get('vision_model.layernorm.weight')!;
  const half = Float32Array.from(ln.data as Float32Array, (v) => Math.round(v * 64) / 64); // exact in F16
  state.set('vision_model.layernorm.weight', { dtype: 'F16', shape: ln.shape, data: half });
  state.set('visual_projection.1.num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array([7n]) });
  state.set('text_model.embeddings.position_ids', { dtype: 'I64', shape: [1, 16], data: BigInt64Array.from({ length: 16 }, (_, i) => BigInt(i)) });
  writeSafetensors(join(dir, 'model.safetensors'), state);
  const out = join(tmp('dtype'), 'out');
  const r = await convertModel(dir, out);
  assert.deepEqual(r.dropped.sort(), ['text_model.embeddings.position_ids', 'visual_projection.1.num_batches_tracked']);
  const got = readSafetensors(join(out, 'model.safetensors'));
  assert.equal(got.size, 212);
  assert.equal(got.get('vision_model.layernorm.weight')!.dtype, 'F32');
  assert.deepEqual(got.get('vision_model.layernorm.weight')!.data, half);
});

test('a truncated .pth ends in one sentence, in the library and on the command line, and writes nothing', async () => {
  const dir = folderWith(['config.json']);
  const bytes = readFileSync(join(FIXTURE, 'nvlabs_checkpoint.pth'));
  const bad = join(dir, 'truncated.pth');
  writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const out = join(dir, 'out');
  await assert.rejects(convertModel(bad, out), (e) => isOneSentence(e, /truncated\.pth/));
  assert.ok(!existsSync(out), 'nothing written');
  await assert.rejects(runParity(FIXTURE, { weights: bad }), (e) => isOneSentence(e, /truncated\.pth/));
  await assert.rejects(convertModel(join(dir, 'missing.pth'), out), (e) => isOneSentence(e, /missing\.pth does not exist/));

  const cli = spawnSync(process.execPath, ['bin/groupvit.js', 'convert', bad, out], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  assert.equal(cli.status, 1, cli.stderr);
  const lines = cli.stderr.split('\n').filter((l) => l.startsWith('groupvit:'));
  assert.equal(lines.length, 1, cli.stderr);
  assert.match(lines[0], /^groupvit: .*truncated\.pth.*\.$/);
  assert.ok(!existsSync(out));
});

test('a configuration that does not fit the weights names the tensors and the configuration', async () => {
  const dir = tmp('cfg');
  const cfg = JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8'));
  cfg.text_config.intermediate_size = 64;
  writeFileSync(join(dir, 'wrong.json'), JSON.stringify(cfg));
  const out = join(dir, 'out');
  await assert.rejects(convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), out, { config: join(dir, 'wrong.json') }), (e) =>
    isOneSentence(e, /wrong shape: text_model\.encoder\.layers\.0\.mlp\.fc1\.weight is \[128,32\] but the model needs \[64,32\].*configuration from .*wrong\.json/),
  );
  assert.ok(!existsSync(out), 'nothing written');
  await assert.rejects(convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), out, { config: join(dir, 'wrong.json'), preset: 'gcc-yfcc' }), (e) =>
    isOneSentence(e, /either --config FILE or --preset NAME/),
  );
});

test('a .pth without a config.json beside it gets the gcc-yfcc configuration (and the tiny fixture does not fit it)', async () => {
  const dir = folderWith(['nvlabs_checkpoint.pth']);
  await assert.rejects(convertModel(join(dir, 'nvlabs_checkpoint.pth'), join(dir, 'out')), (e) =>
    isOneSentence(e, /wrong shape: vision_model\.embeddings\.patch_embeddings\.projection\.weight is \[64,3,8,8\] but the model needs \[384,3,16,16\].*built-in gcc-yfcc preset; choose another with --config FILE or --preset NAME/),
  );
});

test('an existing model in OUT_DIR is kept unless --force', async () => {
  const out = join(tmp('force'), 'out');
  await convertModel(join(FIXTURE, 'pytorch_model.bin'), out);
  await assert.rejects(convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), out), (e) => isOneSentence(e, /already holds model\.safetensors and config\.json.*--force/));
  await convertModel(join(FIXTURE, 'nvlabs_checkpoint.pth'), out, { force: true });
  assertSameAsFixture(out);
});

test('the gcc-yfcc preset builds the released model: 55,742,993 values (NVlabs counts 55,742,996 with 2 BN counters and multi_label_logit_scale)', async () => {
  const model = new GroupViTModel(presetConfig('gcc-yfcc'));
  try {
    const tensors = modelTensors(model);
    let n = 0;
    for (const t of tensors.values()) n += t.size;
    assert.equal(n, 55_742_993);
    assert.equal(tensors.size, 502 - 2, 'HF counts 502 tensors including the two num_batches_tracked');
    assert.deepEqual(tensors.get('vision_model.embeddings.position_embeddings')!.shape, [1, 196, 384]);
    assert.deepEqual(tensors.get('text_model.embeddings.token_embedding.weight')!.shape, [49408, 256]);
    assert.deepEqual(tensors.get('visual_projection.3.weight')!.shape, [256, 4096]);
  } finally {
    model.release();
  }
});
