// Built-in configurations of the released models and the order in which a configuration is chosen for --weights.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPreset, presetConfig, presetNames, presetRawConfig } from '../../src/model/presets.js';
import { resolveConfig } from '../../src/model/source.js';
import { UserError } from '../../src/util/errors.js';

const FIXTURE = join(process.cwd(), '..', 'shared', 'fixtures', 'groupvit-tiny');
const made: string[] = [];
after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gv-presets-'));
  made.push(dir);
  return dir;
}

test('gcc-yfcc is group_vit_gcc_yfcc_30e in the hub config layout', () => {
  const c = presetConfig('gcc-yfcc');
  assert.equal(c.projection_dim, 256);
  assert.equal(c.projection_intermediate_dim, 4096);
  assert.equal(c.logit_scale_init_value, 2.6592);
  assert.deepEqual(
    { ...c.text_config },
    {
      vocab_size: 49408, hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 12, num_attention_heads: 4, max_position_embeddings: 77,
      hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, bos_token_id: 49406, eos_token_id: 49407, pad_token_id: 1,
      model_type: 'groupvit_text_model', dropout: 0, attention_dropout: 0, initializer_range: 0.02, initializer_factor: 1,
    },
  );
  const v = c.vision_config;
  assert.equal(v.hidden_size, 384);
  assert.equal(v.intermediate_size, 1536);
  assert.deepEqual(v.depths, [6, 3, 3]);
  assert.deepEqual(v.num_group_tokens, [64, 8, 0]);
  assert.deepEqual(v.num_output_groups, [64, 8, 8]);
  assert.equal(v.num_attention_heads, 6);
  assert.equal(v.patch_size, 16);
  assert.equal(v.image_size, 224);
  assert.equal(v.hidden_act, 'gelu');
  assert.equal(v.assign_eps, 1);
  assert.deepEqual(v.assign_mlp_ratio, [0.5, 4]);
  assert.equal(presetRawConfig('gcc-yfcc').model_type, 'groupvit');
});

test('gcc-redcap has the same architecture; aliases and unknown names', () => {
  assert.deepEqual(presetConfig('gcc-redcap'), presetConfig('gcc-yfcc'));
  assert.deepEqual(presetNames(), ['gcc-yfcc', 'gcc-redcap']);
  assert.equal(findPreset('gcc-redcaps').name, 'gcc-redcap');
  assert.equal(findPreset('nvidia/groupvit-gcc-yfcc').name, 'gcc-yfcc');
  assert.equal(findPreset('group_vit_gcc_redcap_30e').nvlabsFile, 'group_vit_gcc_redcap_30e-3dd09a76.pth');
  assert.throws(() => findPreset('vit-b'), (e: Error) => e instanceof UserError && /no built-in configuration named "vit-b"; choose gcc-yfcc or gcc-redcap\./.test(e.message));
  // each call gives a fresh object, so a caller's edit cannot leak into the next
  (presetRawConfig('gcc-yfcc').text_config as Record<string, unknown>).vocab_size = 1;
  assert.equal(presetConfig('gcc-yfcc').text_config.vocab_size, 49408);
});

test('configuration order: --config, --preset, config.json beside the weights, then gcc-yfcc', () => {
  const pth = join(FIXTURE, 'nvlabs_checkpoint.pth');
  const beside = resolveConfig(pth);
  assert.equal(beside.source, join(FIXTURE, 'config.json'));
  assert.equal(beside.config.vision_config.hidden_size, 64);
  assert.equal(resolveConfig(FIXTURE).source, join(FIXTURE, 'config.json'), 'a folder is its own neighbourhood');
  const preset = resolveConfig(pth, { preset: 'gcc-redcap' });
  assert.equal(preset.source, 'the built-in gcc-redcap preset');
  assert.equal(preset.path, undefined);
  assert.equal(resolveConfig(pth, { config: join(FIXTURE, 'config.json') }).path, join(FIXTURE, 'config.json'));
  const lone = tmp();
  const fallback = resolveConfig(join(lone, 'group_vit_gcc_yfcc_30e-879422e0.pth'));
  assert.ok(fallback.defaulted);
  assert.equal(fallback.config.vision_config.hidden_size, 384);
  assert.throws(() => resolveConfig(pth, { config: 'x.json', preset: 'gcc-yfcc' }), UserError);
  assert.throws(() => resolveConfig(pth, { config: join(lone, 'nope.json') }), (e: Error) => e instanceof UserError && /Cannot read the model configuration/.test(e.message));
  writeFileSync(join(lone, 'bad.json'), '{"projection_dim": ');
  assert.throws(() => resolveConfig(pth, { config: join(lone, 'bad.json') }), (e: Error) => e instanceof UserError && /not valid JSON/.test(e.message));
});

test('legacy text_config_dict / vision_config_dict of older hub configs are honoured', () => {
  const dir = tmp();
  const raw = presetRawConfig('gcc-yfcc');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, text_config: { hidden_size: 512 }, text_config_dict: raw.text_config, vision_config_dict: raw.vision_config }));
  const r = resolveConfig(join(dir, 'pytorch_model.bin'));
  assert.equal(r.config.text_config.hidden_size, 256);
  assert.equal(r.config.vision_config.hidden_size, 384);
});
