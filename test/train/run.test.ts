// The training run as a user drives it: loss falls, an interrupted and resumed run matches an uninterrupted one
// step for step, checkpoints are atomic, user data with bad records trains with the bad records skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { parseConfig, readConfig } from '../../src/model/config.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { loadWeights } from '../../src/model/load.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGradAsync } from '../../src/tensor/tape.js';
import { normalizeImages } from '../../src/io/normalize-pixels.js';
import { train, type TrainOptions } from '../../src/train/run.js';
import { latestSnapshot } from '../../src/train/checkpoint.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { writePngRGB } from '../../src/io/image.js';
import { UserError } from '../../src/util/errors.js';
import { TINY_VOCAB } from '../../src/train/presets.js';

useGpu();

const microConfig = () =>
  parseConfig({
    projection_dim: 16,
    projection_intermediate_dim: 32,
    text_config: { vocab_size: TINY_VOCAB, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 24, bos_token_id: TINY_VOCAB - 2, eos_token_id: TINY_VOCAB - 1, word_split: 'punctuation' },
    vision_config: {
      hidden_size: 16, intermediate_size: 32, depths: [1, 1, 1], num_group_tokens: [6, 3, 0], num_output_groups: [6, 3, 3],
      num_attention_heads: 2, image_size: 32, patch_size: 8, assign_mlp_ratio: [0.5, 2],
    },
  });

function opts(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    preset: 'tiny', data: 'synthetic', seed: 3, out, batchSize: 8, steps: 6, checkpointEvery: 3, calibrateCount: 0,
    recipe: { config: microConfig(), warmupSteps: 2, lr: 3e-3, dropPath: 0.1 },
    ...extra,
  };
}

const losses = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);

test('a short run: the loss falls, weights and checkpoints land in --out', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-train-'));
  const s = await train(opts(out, { steps: 24, batchSize: 8, checkpointEvery: 12, recipe: { config: microConfig(), warmupSteps: 2, lr: 5e-3 } }));
  assert.equal(s.endStep, 24);
  const l = losses(out);
  assert.equal(l.length, 24);
  const first = (l[0] + l[1] + l[2]) / 3;
  const lastAvg = (l[21] + l[22] + l[23]) / 3;
  assert.ok(lastAvg < first * 0.9, `loss ${first} -> ${lastAvg}`);
  for (const f of ['config.json', 'model.safetensors', 'latest.json', 'metrics.jsonl']) assert.ok(existsSync(join(out, f)), f);
  const snap = latestSnapshot(out)!;
  assert.equal(snap.state.step, 24);
  assert.ok(readSafetensors(join(snap.dir, 'optimizer.safetensors')).has('multi_label_logit_scale'));
});

test('resume is exact: interrupted at step 3 and resumed, the run reaches the same losses as an uninterrupted one', async () => {
  const a = mkdtempSync(join(tmpdir(), 'gv-a-'));
  await train(opts(a));
  const b = mkdtempSync(join(tmpdir(), 'gv-b-'));
  let n = 0;
  const s1 = await train(opts(b), { shouldStop: () => ++n >= 3 });
  assert.equal(s1.endStep, 3);
  assert.ok(s1.stoppedEarly);
  const s2 = await train(opts(b, { resume: true }));
  assert.equal(s2.startStep, 3);
  assert.deepEqual(losses(b), losses(a));
  // and the weights are bit-identical
  const wa = readSafetensors(join(a, 'model.safetensors'));
  const wb = readSafetensors(join(b, 'model.safetensors'));
  for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, k);
});

test('a second run into the same folder needs --resume', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-c-'));
  await train(opts(out, { steps: 3 }));
  await assert.rejects(train(opts(out, { steps: 3 })), (e: Error) => e instanceof UserError && /--resume/.test(e.message));
});

test('a run that reaches its last step records a background rule with its weights; a stopped one does not', async () => {
  const { calibratedRule, BG_THRESH_GRID, BG_BORDER_GRID } = await import('../../src/train/calibrate.js');
  const out = mkdtempSync(join(tmpdir(), 'gv-calib-'));
  const phases: string[] = [];
  const progress: [number, number][] = [];
  const s = await train(opts(out, { steps: 2, calibrateCount: 4 }), { onCalibrate: (p) => phases.push(p), onCalibrateProgress: (n, total) => progress.push([n, total]) });
  assert.deepEqual(phases, ['start', 'done']);
  // the 4 scenes alone, then once more under every view and isolation tried
  assert.deepEqual(progress, [[4, 8], [8, 8]]);
  assert.equal(typeof s.calibration!.isolate, 'boolean');
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).groupvit.isolate, s.calibration!.isolate, 'the isolation chosen is recorded');
  assert.ok(s.calibration && BG_THRESH_GRID.includes(s.calibration.bgThresh), JSON.stringify(s.calibration));
  assert.equal(s.calibration.scenes, 4);
  assert.ok(BG_BORDER_GRID.includes(s.calibration.bgBorder), JSON.stringify(s.calibration));
  assert.deepEqual(calibratedRule(join(out, 'config.json')), { bgThresh: s.calibration.bgThresh, bgBorder: s.calibration.bgBorder });
  const raw = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(raw.groupvit.preset, 'tiny', 'the training record stays beside it');
  assert.equal(JSON.parse(readFileSync(join(out, 'train-summary.json'), 'utf8')).calibration.bgThresh, s.calibration.bgThresh);
  const stopped = mkdtempSync(join(tmpdir(), 'gv-calib-stop-'));
  const t = await train(opts(stopped, { steps: 4, calibrateCount: 4 }), { shouldStop: () => true });
  assert.equal(t.stoppedEarly, true);
  assert.equal(t.calibration, undefined);
  assert.equal(calibratedRule(join(stopped, 'config.json')), undefined);
});

test('a crash mid-write leaves the previous checkpoint readable', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-d-'));
  await train(opts(out, { steps: 3 }));
  const before = latestSnapshot(out)!;
  // a half-written snapshot of a later step (the process died before latest.json moved) and a stray temp file
  mkdirSync(join(out, 'checkpoints', 'step-0000006'), { recursive: true });
  writeFileSync(join(out, 'checkpoints', 'step-0000006', 'model.safetensors'), 'garbage');
  writeFileSync(join(out, `latest.json.tmp-12345`), '{"snap');
  const after = latestSnapshot(out)!;
  assert.equal(after.dir, before.dir);
  assert.ok(readSafetensors(join(after.dir, 'model.safetensors')).size > 10);
  const s = await train(opts(out, { steps: 4, resume: true }));
  assert.equal(s.startStep, 3);
});

test('user data: captions.jsonl with unreadable images and empty captions trains, skipping and counting them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gv-data-'));
  const lines: string[] = [];
  for (let i = 0; i < 6; i++) {
    const data = new Uint8Array(40 * 40 * 3).map((_, k) => (k * (i + 3)) % 251);
    writePngRGB(join(dir, `img${i}.png`), { width: 40, height: 40, data });
    lines.push(JSON.stringify({ image: `img${i}.png`, caption: `a red star number ${i}` }));
  }
  writeFileSync(join(dir, 'broken.png'), 'not a png');
  lines.push(JSON.stringify({ image: 'broken.png', caption: 'a broken picture' }));
  lines.push(JSON.stringify({ image: 'img0.png', caption: '' }));
  writeFileSync(join(dir, 'captions.jsonl'), lines.join('\n') + '\n');
  const out = mkdtempSync(join(tmpdir(), 'gv-e-'));
  const warnings: string[] = [];
  const s = await train(opts(out, { data: dir, steps: 2, batchSize: 4 }), { onSkipped: (w) => warnings.push(w) });
  assert.equal(s.endStep, 2);
  // the empty caption is skipped at indexing; the broken PNG when a batch reaches it (in the worker thread)
  assert.ok(warnings.some((w) => /skipped 1 record \(1 unreadable image\)/.test(w)), warnings.join(' | '));
  await assert.rejects(train(opts(mkdtempSync(join(tmpdir(), 'gv-f-')), { data: join(dir, 'missing') })), UserError);
});

test('the worker-thread prefetcher hands out exactly the batches the in-thread source makes', async () => {
  const { PrefetchingBatches } = await import('../../src/train/prefetch.js');
  const { ShapesBatches } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const config = microConfig();
  const prompts = { k: 3, templates: 'full' as const, withModifiers: false, sharedTargets: true };
  const direct = new ShapesBatches(5, 4, 32, loadTokenizer('/nonexistent', config), prompts);
  const pre = new PrefetchingBatches({ kind: 'shapes', seed: 5, batchSize: 4, imageSize: 32, prompts, tokenizerDir: '', config });
  try {
    for (const step of [0, 1, 2, 7]) {
      const a = direct.batch(step);
      const b = await pre.batch(step, 10);
      assert.deepEqual(b.pixels, a.pixels);
      assert.deepEqual(b.captionIds, a.captionIds);
      assert.deepEqual(b.promptIds, a.promptIds);
      assert.deepEqual(b.promptKeys, a.promptKeys);
    }
  } finally {
    await pre.close();
  }
});

test('the worker makes the grouping terms\' patch weights with each batch, from the step their schedule starts', async () => {
  const { PrefetchingBatches } = await import('../../src/train/prefetch.js');
  const { ShapesBatches } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const { patchAffinity, patchRepulsion } = await import('../../src/train/patch-affinity.js');
  const config = microConfig();
  const prompts = { k: 2, templates: 'full' as const, withModifiers: false, sharedTargets: true, uniquePrompts: true };
  const direct = new ShapesBatches(5, 3, 32, loadTokenizer('/nonexistent', config), prompts);
  const patchTerms = { gridH: 4, gridW: 4, affinity: true, repulsion: true, fromStep: 2 };
  const pre = new PrefetchingBatches({ kind: 'shapes', seed: 5, batchSize: 3, imageSize: 32, prompts, tokenizerDir: '', config, patchTerms });
  try {
    const early = await pre.batch(1, 10);
    assert.equal(early.patchAffinity ?? null, null, 'no weights before the terms start');
    for (const step of [2, 5]) {
      const a = direct.batch(step);
      const b = await pre.batch(step, 10);
      assert.deepEqual(b.pixels, a.pixels);
      assert.equal(b.patchAffinity!.length, 3 * 16 * 16);
      assert.deepEqual(b.patchAffinity, patchAffinity(a.pixels, a.shape, 4, 4));
      assert.deepEqual(b.patchRepulsion, patchRepulsion(a.pixels, a.shape, 4, 4));
      // each image's affinity weights sum to 1 (a real batch, not zeros)
      const first = b.patchAffinity!.subarray(0, 256).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(first - 1) < 1e-5, `image 0's weights sum to ${first}`);
    }
  } finally {
    await pre.close();
  }
});

test('unique prompts: k templated rows per distinct noun of the batch, owned by every image naming it, deterministic per step', async () => {
  const { ShapesBatches } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const { extractNouns } = await import('../../src/data/shapes/nouns.js');
  const config = microConfig();
  const tok = loadTokenizer('/nonexistent', config);
  const prompts = { k: 2, templates: 'full' as const, withModifiers: false, sharedTargets: true, uniquePrompts: true };
  const src = new ShapesBatches(5, 6, 32, tok, prompts);
  const a = src.batch(3);
  const again = new ShapesBatches(5, 6, 32, tok, prompts).batch(3);
  assert.deepEqual(again.promptIds, a.promptIds);
  assert.deepEqual(again.imageKeys, a.imageKeys);
  const keys = a.promptKeys!;
  const owned = a.imageKeys!;
  const distinct = [...new Set(owned.flat())];
  assert.ok(distinct.length >= 2, 'six scenes name more than one noun');
  assert.deepEqual(keys, distinct.flatMap((w) => [w, w]));
  const l = tok.contextLength;
  assert.equal(a.promptIds!.length, keys.length * l);
  // each image owns exactly its caption's nouns, and each prompt row encodes its noun's word
  for (let i = 0; i < 6; i++) {
    const sample = src.data.sample(3 * 6 + i, 0);
    assert.deepEqual(owned[i], [...new Set(extractNouns(sample.caption).map((n) => n.noun))]);
  }
  keys.forEach((w, j) => {
    const row = Array.from(a.promptIds!.slice(j * l, (j + 1) * l));
    const word = tok.encode(w).filter((id) => id !== 0).slice(1, -1);
    assert.ok(word.every((id) => row.includes(id)), `prompt ${j} names ${w}`);
  });
  // a different step draws other templates for its nouns
  assert.notDeepEqual(src.batch(4).promptIds, a.promptIds);
});

test('phrasePrompts also: each image owns its nouns and its colour phrases from before the colour drop, each prompted as a key', async () => {
  const { ShapesBatches } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const config = microConfig();
  const tok = loadTokenizer('/nonexistent', config);
  const world = await import('../../src/data/shapes/world.js');
  const base = { k: 2, templates: 'full' as const, withModifiers: false, sharedTargets: true, uniquePrompts: true, captionColourDrop: 1 };
  const plain = new ShapesBatches(5, 6, 32, tok, base).batch(3);
  const src = new ShapesBatches(5, 6, 32, tok, { ...base, phrasePrompts: 'also' as const });
  const also = src.batch(3);
  assert.deepEqual(also.pixels, plain.pixels);
  assert.deepEqual(also.captionIds, plain.captionIds, 'the captions keep their colours out');
  also.imageKeys!.forEach((keys, i) => {
    const nouns = plain.imageKeys![i];
    assert.deepEqual(keys.slice(0, nouns.length), nouns, 'the nouns first, as without phrases');
    const sample = src.data.sample(3 * 6 + i, 0);
    const objects = sample.objects.filter((o) => o.visiblePixels >= 4).map((o) => `${o.colour} ${o.shape}`);
    const phrases = keys.slice(nouns.length);
    const { SHAPES } = world;
    const shapePhrases = phrases.filter((p) => SHAPES.some((sh) => p.endsWith(` ${sh}`)));
    assert.deepEqual(shapePhrases.sort(), [...new Set(objects)].sort(), `image ${i}: ${keys.join(', ')}`);
    // the rest describe the backdrop, and only where the caption names it
    for (const p of phrases.filter((x) => !shapePhrases.includes(x))) assert.ok(p.endsWith(' background') && nouns.includes('background') || p.endsWith(' backdrop') && nouns.includes('backdrop'), p);
  });
  const distinct = [...new Set(also.imageKeys!.flat())];
  assert.deepEqual(also.promptKeys, distinct.flatMap((w) => [w, w]));
  const l = tok.contextLength;
  also.promptKeys!.forEach((w, j) => {
    const row = Array.from(also.promptIds!.slice(j * l, (j + 1) * l));
    assert.ok(tok.encode(w).filter((id) => id !== 0).slice(1, -1).every((id) => row.includes(id)), `prompt ${j} names ${w}`);
  });
});

test('backgroundNoun: every image owns it, prompted once per batch like any noun; other images keep their own nouns', async () => {
  const { ShapesBatches } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const config = microConfig();
  const tok = loadTokenizer('/nonexistent', config);
  const base = { k: 2, templates: 'full' as const, withModifiers: false, sharedTargets: true, uniquePrompts: true };
  const plain = new ShapesBatches(5, 6, 32, tok, base).batch(3);
  const withBg = new ShapesBatches(5, 6, 32, tok, { ...base, backgroundNoun: 'background' }).batch(3);
  assert.deepEqual(withBg.pixels, plain.pixels);
  // the scenes whose caption named no backdrop gain it; those that did keep it once
  assert.ok(plain.imageKeys!.some((keys) => !keys.includes('background')), 'some caption of six leaves the backdrop out');
  withBg.imageKeys!.forEach((keys, i) => {
    const own = plain.imageKeys![i];
    assert.deepEqual(keys, own.includes('background') ? own : [...own, 'background']);
  });
  assert.equal(withBg.promptKeys!.filter((w) => w === 'background').length, 2);
  // the recipe refuses it where prompts are not made per distinct noun
  const out = mkdtempSync(join(tmpdir(), 'gv-bgn-'));
  await assert.rejects(train(opts(out, { steps: 1, batchSize: 4, recipe: { config: microConfig(), multiLabelTargets: 'paper', backgroundNoun: 'background' } })), /backgroundNoun needs multiLabelTargets "unique"/);
});

test('pooled + per-group multi-label loss with unique prompts: a short run trains and its loss falls', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-groups-'));
  const s = await train(opts(out, { steps: 20, batchSize: 8, checkpointEvery: 20, recipe: { config: microConfig(), warmupSteps: 2, lr: 5e-3, multiLabelTargets: 'unique', multiLabelPooling: 'both' } }));
  assert.equal(s.endStep, 20);
  const l = losses(out);
  const ml = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x).multi_label as number);
  assert.ok(ml.every((v) => Number.isFinite(v) && v > 0), 'the multi-label term is computed');
  assert.ok((l[17] + l[18] + l[19]) / 3 < ((l[0] + l[1] + l[2]) / 3) * 0.9, `loss ${l.slice(0, 3)} -> ${l.slice(17)}`);
});

test('matched noun loss: a short run logs it, and its loss falls; it refuses the paper\'s one-owner prompts', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-match-'));
  const s = await train(opts(out, { steps: 20, batchSize: 8, checkpointEvery: 20, recipe: { config: microConfig(), warmupSteps: 2, lr: 5e-3, multiLabelTargets: 'unique', multiLabelPooling: 'both', groupNounMatching: 0.5 } }));
  assert.equal(s.endStep, 20);
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x) as Record<string, number>);
  const matched = lines.map((x) => x.matched);
  assert.ok(matched.every((v) => Number.isFinite(v) && v > 0), `the matched term is logged: ${matched.slice(0, 3)}`);
  assert.ok((matched[17] + matched[18] + matched[19]) / 3 < (matched[0] + matched[1] + matched[2]) / 3, `matched ${matched.slice(0, 3)} -> ${matched.slice(17)}`);
  // the total holds it: the smoothness and contrast terms start at step 200, so the rest is the balance term and the
  // preset's presence term
  for (const x of lines) assert.ok(Math.abs(x.loss - x.contrastive - x.multi_label - x.balance - x.matched - (x.presence ?? 0)) < 1e-4 * x.loss, JSON.stringify(x));
  const other = mkdtempSync(join(tmpdir(), 'gv-match-paper-'));
  await assert.rejects(train(opts(other, { steps: 1, batchSize: 4, recipe: { config: microConfig(), multiLabelTargets: 'paper', groupNounMatching: 1, groupSeparation: 0 } })), /groupNounMatching needs multiLabelTargets "unique"/);
  await assert.rejects(train(opts(other, { steps: 1, batchSize: 4, recipe: { config: microConfig(), multiLabelTargets: 'shared', contrastiveTargets: 'shared', groupPresence: 0, groupNounGrounding: 0, groupSeparation: 0 } })), /contrastiveTargets "shared" needs multiLabelTargets "unique"/);
  await assert.rejects(train(opts(other, { steps: 1, batchSize: 4, recipe: { config: microConfig(), multiLabelTargets: 'shared', groupPresence: 0, groupNounGrounding: 0, groupSeparation: 1 } })), /groupSeparation needs multiLabelTargets "unique"/);
});

test('same-nouns contrastive targets: the same first step but for the image–caption term', async () => {
  const first = async (contrastiveTargets: string) => {
    const out = mkdtempSync(join(tmpdir(), `gv-ctargets-${contrastiveTargets}-`));
    await train(opts(out, { steps: 1, batchSize: 16, checkpointEvery: 1, recipe: { config: microConfig(), multiLabelTargets: 'unique', contrastiveTargets } as never }));
    return JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]) as Record<string, number>;
  };
  const paper = await first('paper');
  const shared = await first('shared');
  assert.equal(shared.multi_label, paper.multi_label);
  assert.ok(Math.abs(shared.contrastive - paper.contrastive) > 1e-4, `contrastive ${paper.contrastive} (paper) vs ${shared.contrastive} (shared)`);
});

test('per-group noun loss with the border group held out of its max: the same first step but for the multi-label term', async () => {
  const first = async (multiLabelBackdrop: string) => {
    const out = mkdtempSync(join(tmpdir(), `gv-mlbackdrop-${multiLabelBackdrop}-`));
    await train(opts(out, { steps: 1, batchSize: 8, checkpointEvery: 1, recipe: { config: microConfig(), multiLabelTargets: 'unique', multiLabelPooling: 'both', multiLabelBackdrop } as never }));
    return JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]) as Record<string, number>;
  };
  const none = await first('none');
  const border = await first('border');
  assert.equal(border.contrastive, none.contrastive);
  assert.ok(Math.abs(border.multi_label - none.multi_label) > 1e-4, `multi-label ${none.multi_label} (none) vs ${border.multi_label} (border)`);
});

test('presence loss: logged and in the total, the same first step otherwise; it refuses the paper\'s one-owner prompts', async () => {
  const first = async (groupPresence: number) => {
    const out = mkdtempSync(join(tmpdir(), `gv-presence-${groupPresence}-`));
    await train(opts(out, { steps: 2, batchSize: 8, checkpointEvery: 2, recipe: { config: microConfig(), multiLabelTargets: 'unique', multiLabelPooling: 'both', multiLabelBackdrop: 'border', groupPresence } as never }));
    return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x) as Record<string, number>);
  };
  const off = await first(0);
  const on = await first(0.5);
  assert.equal(off[0].presence, undefined);
  assert.equal(on[0].contrastive, off[0].contrastive);
  assert.equal(on[0].multi_label, off[0].multi_label);
  for (const x of on) {
    assert.ok(Number.isFinite(x.presence) && x.presence > 0, JSON.stringify(x));
    assert.ok(Math.abs(x.loss - x.contrastive - x.multi_label - x.balance - x.presence) < 1e-4 * x.loss, JSON.stringify(x));
  }
  assert.ok(Math.abs(on[0].loss - off[0].loss - on[0].presence) < 1e-4 * on[0].loss, 'step 1 differs by the presence term only');
  assert.notEqual(on[1].multi_label, off[1].multi_label, 'its gradient reached the weights');
  const other = mkdtempSync(join(tmpdir(), 'gv-presence-paper-'));
  await assert.rejects(train(opts(other, { steps: 1, batchSize: 4, recipe: { config: microConfig(), multiLabelTargets: 'paper', groupPresence: 1 } })), /groupPresence needs multiLabelTargets "unique"/);
});

test('matched noun loss with the border group held out: the same first step otherwise, another matched term', async () => {
  const run = async (backdrop: string) => {
    const out = mkdtempSync(join(tmpdir(), `gv-match-${backdrop}-`));
    await train(opts(out, { steps: 2, batchSize: 8, checkpointEvery: 2, recipe: { config: microConfig(), multiLabelTargets: 'unique', multiLabelPooling: 'both', groupNounMatching: 1, groupNounMatchingBackdrop: backdrop } as never }));
    return JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]) as Record<string, number>;
  };
  const none = await run('none');
  const border = await run('border');
  assert.equal(border.contrastive, none.contrastive);
  assert.equal(border.multi_label, none.multi_label);
  assert.ok(Number.isFinite(border.matched) && Math.abs(border.matched - none.matched) > 1e-4, `matched ${none.matched} vs ${border.matched}`);
});

test('matched noun loss until a step: logged and in the total before it, gone after', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-match-until-'));
  await train(opts(out, { steps: 6, batchSize: 4, checkpointEvery: 6, recipe: { config: microConfig(), multiLabelTargets: 'unique', multiLabelPooling: 'both', groupNounMatching: 1, groupNounMatchingUntil: 3 } }));
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x) as Record<string, number>);
  // optimiser steps 0–2 are logged as steps 1–3
  assert.deepEqual(lines.map((x) => x.matched !== undefined), [true, true, true, false, false, false]);
  for (const x of lines) assert.ok(Math.abs(x.loss - x.contrastive - x.multi_label - x.balance - (x.matched ?? 0) - (x.presence ?? 0)) < 1e-4 * x.loss, JSON.stringify(x));
});

test('single-object curriculum: scenes hold one object before singleObjectSteps, 1–3 after', async () => {
  const { ShapesBatches } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const { normalizeImages } = await import('../../src/io/normalize-pixels.js');
  const tok = loadTokenizer('/nonexistent', microConfig());
  const src = new ShapesBatches(7, 8, 32, tok, { k: 1, templates: 'simple', withModifiers: false, singleObjectSteps: 2 });
  const images = (world: typeof src.data, step: number) => normalizeImages(Array.from({ length: 8 }, (_, i) => world.sample(step * 8 + i, 0).image));
  assert.deepEqual(src.batch(1).pixels, images(src.single, 1));
  assert.deepEqual(src.batch(2).pixels, images(src.data, 2));
  const counts = (world: typeof src.data) => Array.from({ length: 40 }, (_, i) => world.sample(i, 0).objects.length);
  assert.ok(counts(src.single).every((n) => n === 1));
  assert.ok(counts(src.data).some((n) => n > 1));
});

test('unique prompts: a batch whose captions have no nouns prompts with the captions themselves', async () => {
  const { packUniquePrompts } = await import('../../src/train/batches.js');
  const { loadTokenizer } = await import('../../src/data/tokenizer/index.js');
  const { Random } = await import('../../src/util/random.js');
  const tok = loadTokenizer('/nonexistent', microConfig());
  const img = { width: 4, height: 4, data: new Uint8Array(48) };
  const captions = ['it is', 'it is', 'so very'];
  const spec = { k: 2, templates: 'full' as const, withModifiers: false };
  const b = packUniquePrompts([img, img, img], captions, [[], [], []], tok, spec, new Random(1));
  assert.deepEqual(b.imageKeys, [['it is'], ['it is'], ['so very']]);
  assert.deepEqual(b.promptKeys, ['it is', 'it is', 'so very', 'so very']);
  assert.deepEqual(Array.from(b.promptIds!.slice(0, tok.contextLength)), Array.from(tok.encode('it is')));
  // with one noun anywhere, noun-less images own nothing (their rows of the loss are zero)
  const c = packUniquePrompts([img, img], ['a star', 'it is'], [[{ noun: 'star', phrase: 'star' }], []], tok, spec, new Random(1));
  assert.deepEqual(c.imageKeys, [['star'], []]);
  assert.deepEqual(c.promptKeys, ['star', 'star']);
});

test('assignInitGain scales the grouping q/k projections at initialisation, and nothing else', async () => {
  const run = async (gain: number) => {
    const out = mkdtempSync(join(tmpdir(), 'gv-gain-'));
    await train(opts(out, { steps: 1, checkpointEvery: 1, lr: 1e-12, recipe: { config: microConfig(), warmupSteps: 0, warmupLr: 1e-12, minLr: 1e-12, weightDecay: 0, assignInitGain: gain } }));
    return readSafetensors(join(out, 'model.safetensors'));
  };
  const [a, b] = [await run(1), await run(4)];
  let scaled = 0;
  for (const [k, t] of a) {
    const u = b.get(k)!.data as Float32Array;
    const v = t.data as Float32Array;
    const gained = /downsample\.assign\.(q|k)_proj\.weight$/.test(k);
    if (gained) scaled++;
    for (let i = 0; i < v.length; i++) {
      const want = gained ? 4 * v[i] : v[i];
      assert.ok(Math.abs(u[i] - want) <= 1e-6 + 1e-5 * Math.abs(want), `${k}[${i}]: ${u[i]} vs ${want}`);
    }
  }
  assert.equal(scaled, 4, 'q and k of both grouping stages');
});

test('groupBalance: the assignment term is logged, pulls the mutual information up (negative loss) and the run trains', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-balance-'));
  await train(opts(out, { steps: 20, batchSize: 8, checkpointEvery: 20, recipe: { config: microConfig(), warmupSteps: 2, lr: 5e-3, groupBalance: 10 } }));
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x));
  const b = rows.map((r) => r.balance as number);
  assert.ok(b.every(Number.isFinite), 'balance logged every step');
  // −MI per stage lies in [−log S, 0]: weight 10 times the mean of the two stages: in [−10·(log 6 + log 3)/2, 0]
  assert.ok(b.every((v) => v <= 1e-6 && v >= (-10 * (Math.log(6) + Math.log(3))) / 2 - 1e-5), b.join(' '));
  assert.ok(b[19] < b[0] - 0.3, `balance ${b[0]} -> ${b[19]}`);
  const l = rows.map((r) => r.loss as number);
  for (const r of rows) assert.ok(Math.abs(r.loss - (r.contrastive + r.multi_label + r.balance + (r.presence ?? 0))) < 1e-4, 'total = both losses + balance (+ the preset\'s presence term)');
  assert.ok((l[17] + l[18] + l[19]) / 3 < ((l[0] + l[1] + l[2]) / 3) * 0.9, `loss ${l.slice(0, 3)} -> ${l.slice(17)}`);
});

test('groupSmoothness: the smoothness term is logged within [0, weight], falls, and adds into the total', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-smooth-'));
  await train(opts(out, { steps: 20, batchSize: 8, checkpointEvery: 20, recipe: { config: microConfig(), warmupSteps: 2, lr: 5e-3, groupBalance: 1, groupSmoothness: 4, groupSmoothnessStart: 0, groupContrast: 0 } }));
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x));
  const sm = rows.map((r) => r.smoothness as number);
  assert.ok(sm.every((v) => Number.isFinite(v) && v >= -1e-5 && v <= 4 + 1e-5), sm.join(' '));
  // at the start every patch spreads evenly over the 3 final groups (agreement 1/3), a saddle of the term: it moves
  // once the other losses break the symmetry, and then pulls neighbours together
  assert.ok(Math.abs(sm[0] - 4 * (1 - 1 / 3)) < 1e-3, `smoothness at step 1: ${sm[0]}`);
  assert.ok(sm[19] < sm[0] - 0.005, `smoothness ${sm[0]} -> ${sm[19]}`);
  for (const r of rows) assert.ok(Math.abs(r.loss - (r.contrastive + r.multi_label + r.balance + r.smoothness + (r.separation ?? 0) + (r.presence ?? 0))) < 1e-4, 'total = losses + both terms (+ the preset\'s presence and separation terms)');
});

test('groupContrast with a delayed start: off, then ramped; logged within [0, weight]; adds into the total', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-contrast-'));
  await train(opts(out, { steps: 8, batchSize: 8, checkpointEvery: 8, recipe: { config: microConfig(), warmupSteps: 2, lr: 5e-3, groupBalance: 1, groupSmoothness: 4, groupContrast: 2, groupSmoothnessStart: 3 } }));
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((x) => JSON.parse(x));
  // optimiser steps 0–3 have weight 0 (not computed, not logged); step 4 weighs 1/3, step 5 2/3, then the full weight
  assert.deepEqual(rows.map((r) => r.contrast === undefined), [true, true, true, true, false, false, false, false]);
  for (const r of rows.slice(4)) {
    assert.ok(r.contrast >= -1e-5 && r.contrast <= 2 + 1e-5 && r.smoothness >= -1e-5 && r.smoothness <= 4 + 1e-5, JSON.stringify(r));
    assert.ok(Math.abs(r.loss - (r.contrastive + r.multi_label + r.balance + r.smoothness + r.contrast + (r.separation ?? 0) + (r.presence ?? 0))) < 1e-4, 'total = losses + the three terms (+ the preset\'s presence and separation terms)');
  }
});

test('image_embed project_then_pool: the run trains, the config keeps it, the image embedding is the mean of the projected groups', async () => {
  const out = mkdtempSync(join(tmpdir(), 'gv-ptp-'));
  const config = { ...microConfig(), image_embed: 'project_then_pool' as const };
  await train(opts(out, { steps: 16, batchSize: 8, checkpointEvery: 16, recipe: { config, warmupSteps: 2, lr: 5e-3 } }));
  const l = losses(out);
  assert.ok(l.every(Number.isFinite));
  assert.ok((l[13] + l[14] + l[15]) / 3 < ((l[0] + l[1] + l[2]) / 3) * 0.9, `loss ${l.slice(0, 3)} -> ${l.slice(13)}`);
  const saved = readConfig(join(out, 'config.json'));
  assert.equal(saved.image_embed, 'project_then_pool');
  const model = new GroupViTModel(saved);
  await loadWeights(model, out);
  model.eval();
  await model.prepareInference();
  const images = Array.from({ length: 3 }, (_, i) => new ShapesDataset({ seed: 2, split: 'eval', imageSize: 32 }).sample(i).image);
  await tidyAsync(async () => {
    const img = await noGradAsync(() => model.encodeImage(Tensor.fromArray(normalizeImages(images), [3, 3, 32, 32])));
    const [e, g] = [await img.embedsUnnorm.toArray(), await img.groupEmbedsUnnorm.toArray()];
    const [, groups, p] = img.groupEmbedsUnnorm.shape;
    for (let i = 0; i < 3; i++)
      for (let d = 0; d < p; d++) {
        let m = 0;
        for (let k = 0; k < groups; k++) m += g[(i * groups + k) * p + d] / groups;
        assert.ok(Math.abs(e[i * p + d] - m) < 1e-5 * (1 + Math.abs(m)), `image ${i} dim ${d}: ${e[i * p + d]} vs ${m}`);
      }
  });
  model.release();
  assert.throws(() => parseConfig({ ...microConfig(), image_embed: 'sum' }), (err: unknown) => err instanceof UserError && /image_embed must be/.test(err.message));
});
