// The official implementation is the judge: every tensor of the groupvit-tiny fixture (made by NVlabs' PyTorch code)
// must be reproduced within the fixture's tolerances, from both weight layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { runParity } from '../../src/model/parity.js';
import { UserError } from '../../src/util/errors.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';

useGpu();

const FIXTURE = join(process.cwd(), '..', 'shared', 'fixtures', 'groupvit-tiny');

function assertAllPass(rows: Awaited<ReturnType<typeof runParity>>): void {
  const fixture = JSON.parse(readFileSync(join(FIXTURE, 'fixture.json'), 'utf8'));
  assert.equal(rows.length, fixture.tensors.length, 'every fixture tensor is compared');
  const failed = rows.filter((r) => !r.pass).map((r) => `${r.name} (${r.note || r.maxAbsErr})`);
  assert.deepEqual(failed, [], `tensors off the reference: ${failed.join(', ')}`);
  for (const family of ['vision.stage0.assign.hard', 'seg.pred', 'logits_per_image', 'text.pooled', 'seg.probs']) {
    assert.ok(rows.some((r) => r.name === family), `${family} is checked`);
  }
}

test('parity with the official outputs: Hugging Face weights (model.safetensors)', async () => {
  assertAllPass(await runParity(FIXTURE));
});

test('parity with the official outputs: NVlabs weights (fused qkv, Conv1d projectors)', async () => {
  assertAllPass(await runParity(FIXTURE, { nvlabs: true }));
});

function fixtureCopy(edit: (state: ReturnType<typeof readSafetensors>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'gv-parity-'));
  for (const f of ['config.json', 'fixture.json', 'inputs.safetensors', 'expected.safetensors']) copyFileSync(join(FIXTURE, f), join(dir, f));
  const state = readSafetensors(join(FIXTURE, 'model.safetensors'));
  edit(state);
  writeSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(state));
  return dir;
}

test('loading errors name the tensor in one sentence', async () => {
  const missing = fixtureCopy((s) => s.delete('vision_model.layernorm.weight'));
  await assert.rejects(runParity(missing), (e: Error) => e instanceof UserError && /missing vision_model\.layernorm\.weight/.test(e.message) && !e.message.includes('\n'));
  const wrong = fixtureCopy((s) => {
    const t = s.get('text_model.final_layer_norm.bias')!;
    s.set('text_model.final_layer_norm.bias', { ...t, shape: [2, 16] });
  });
  await assert.rejects(runParity(wrong), (e: Error) => e instanceof UserError && /wrong shape: text_model\.final_layer_norm\.bias/.test(e.message));
  const extra = fixtureCopy((s) => s.set('vision_model.bogus', { dtype: 'F32', shape: [1], data: new Float32Array(1) }));
  await assert.rejects(runParity(extra), (e: Error) => e instanceof UserError && /unexpected vision_model\.bogus/.test(e.message));
  const truncated = fixtureCopy(() => {});
  const bytes = readFileSync(join(truncated, 'model.safetensors'));
  writeFileSync(join(truncated, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
  await assert.rejects(runParity(truncated), (e: Error) => e instanceof UserError);
});
