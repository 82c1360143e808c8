// `groupvit calibrate`: the background threshold is chosen by mIoU on tuning scenes, each figure equal to what eval
// reports at that threshold, and recorded in the model folder so that eval and segment use it by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { readConfig } from '../../src/model/config.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { loadWeights } from '../../src/model/load.js';
import { loadTokenizer } from '../../src/data/tokenizer/index.js';
import { evaluateShapes } from '../../src/train/eval-shapes.js';
import { backgroundGrid, bestThreshold, calibrateShapes, calibratedAugment, calibratedIsolate, calibratedRule, modelCalibration, writeCalibration } from '../../src/train/calibrate.js';
import { Segmenter } from '../../src/segment/pipeline.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { calibrateCommand } from '../../src/cli/calibrate.js';
import { UserError } from '../../src/util/errors.js';

useGpu();

const SHIPPED = join(process.cwd(), 'models', 'shapes-tiny');

test('calibration: every rule scores as eval does, the best is chosen (the paper\'s, then the highest of equals), and it is recorded', async () => {
  const config = readConfig(join(SHIPPED, 'config.json'));
  const model = new GroupViTModel(config);
  try {
    await loadWeights(model, SHIPPED);
    const tok = loadTokenizer(SHIPPED, config);
    const thresholds = [0.95, 0.5, 0.2, 0.05, 0];
    const grid = backgroundGrid(thresholds, [null, 1, 0.3]);
    const r = await calibrateShapes(model, tok, { seed: 3, count: 10, imageSize: 64, batch: 4, grid, augments: ['none'], isolates: [false] });
    assert.deepEqual([r.augment, r.isolate, r.augmentTried], ['none', false, []], 'no views tried when none but the image is asked for, without isolation');
    // every rule with the group maps as they are, then refined (none first, so that it wins ties)
    const refines = ['none', 'pamr'] as const;
    assert.deepEqual(r.tried.map((t) => [t.refine, t.bgBorder, t.bgThresh]), refines.flatMap((refine) => grid.map((g) => [refine, g.bgBorder, g.bgThresh])));
    for (const [j, t] of r.tried.entries()) {
      if (![0.95, 0.05, 0].includes(t.bgThresh)) continue;
      const e = await evaluateShapes(model, tok, { seed: 3, count: 10, imageSize: 64, batch: 4, bgThresh: t.bgThresh, bgBorder: t.bgBorder, refine: t.refine });
      assert.ok(Math.abs(e.mIoU - t.mIoU) < 1e-12, `${JSON.stringify(t)}: ${t.mIoU} vs eval ${e.mIoU} (${j})`);
    }
    assert.ok(r.tried.some((t, j) => j >= grid.length && t.mIoU !== r.tried[j - grid.length].mIoU), 'the refinement changes the segmentation');
    const plainOnly = await calibrateShapes(model, tok, { seed: 3, count: 10, imageSize: 64, batch: 4, grid, refines: ['none'], augments: ['none'], isolates: [false] });
    assert.deepEqual(plainOnly.tried, r.tried.slice(0, grid.length), 'refinements are tried only when asked for');
    // with threshold 0 nothing is background: a different segmentation, not a copy of 0.95; the border rule differs too
    assert.notEqual(r.tried[4].mIoU, r.tried[0].mIoU);
    const changed = grid.filter((g, j) => g.bgBorder !== null && r.tried[j].mIoU !== r.tried[thresholds.indexOf(g.bgThresh)].mIoU);
    assert.ok(changed.length > 0, 'the border group as background changes the segmentation at some threshold');
    // shorter lists (each scene's shapes, then distractors): every length from 2 to 7, scenes with too many shapes left out
    const data = new ShapesDataset({ seed: 3, split: 'eval', imageSize: 64 });
    const shapesIn = Array.from({ length: 10 }, (_, i) => new Set([...data.sample(i).mask].filter((c) => c > 0)).size);
    assert.deepEqual(r.byClassCount.map((b) => b.classes), [2, 3, 4, 5, 6, 7].filter((k) => shapesIn.some((n) => n <= k)));
    for (const b of r.byClassCount) {
      assert.equal(b.scenes, shapesIn.filter((n) => n <= b.classes).length, `${b.classes} names`);
      assert.ok(thresholds.includes(b.bgThresh) && b.mIoU >= 0 && b.mIoU <= 1);
    }
    const best = Math.max(...r.tried.map((t) => t.mIoU));
    assert.equal(r.mIoU, best);
    const first = r.tried.find((t) => t.mIoU === best)!;
    assert.deepEqual([r.refine, r.bgBorder, r.bgThresh], [first.refine, first.bgBorder, first.bgThresh], 'the first rule of the grid reaching the best');

    const dir = mkdtempSync(join(tmpdir(), 'gv-cal-'));
    cpSync(SHIPPED, dir, { recursive: true });
    // the shipped model carries its own (from 200 tuning scenes); a folder without one has none
    const own = JSON.parse(readFileSync(join(SHIPPED, 'config.json'), 'utf8')).groupvit;
    assert.deepEqual(calibratedRule(join(SHIPPED, 'config.json')), { bgThresh: own.bg_thresh, bgBorder: own.bg_border ?? null });
    const shipped = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    delete shipped.groupvit.bg_thresh;
    delete shipped.groupvit.bg_border;
    delete shipped.groupvit.bg_thresh_by_classes;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(shipped));
    assert.equal(calibratedRule(join(dir, 'config.json')), undefined);
    writeCalibration(dir, { ...r, bgThresh: 0.25, bgBorder: null });
    assert.deepEqual(calibratedRule(join(dir, 'config.json')), { bgThresh: 0.25, bgBorder: null });
    writeCalibration(dir, { ...r, bgThresh: 0.25, bgBorder: 0.35 });
    assert.deepEqual(calibratedRule(join(dir, 'config.json')), { bgThresh: 0.25, bgBorder: 0.35 });
    assert.equal(modelCalibration(join(dir, 'config.json'))!.refine, r.refine, 'the refinement is recorded with the rule');
    // the model's own fields are untouched, the training record kept
    assert.deepEqual(readConfig(join(dir, 'config.json')), config);
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(raw.groupvit.preset, 'tiny');
    assert.deepEqual(raw.groupvit.bg_thresh_by_classes, Object.fromEntries(r.byClassCount.map((b) => [String(b.classes), b.bgThresh])));
    assert.deepEqual(raw.groupvit.bg_thresh_tuning, { data: 'generated shapes world, eval split', classes: 8, seed: 3, scenes: 10, mIoU: r.mIoU });
    // segment's default
    const seg = await Segmenter.load({ weights: dir });
    try {
      assert.equal(seg.bgThreshFor(8), 0.25);
      assert.deepEqual(seg.backgroundFor(12), { bgThresh: 0.95, bgBorder: 0.35 }, 'the border rule holds for any list length');
      // a list of another length takes its own (the scores are softmaxes over the list); one not calibrated, the paper's
      const three = r.byClassCount.find((b) => b.classes === 3)!.bgThresh;
      assert.equal(seg.bgThreshFor(3), three);
      assert.equal(seg.bgThreshFor(12), 0.95);
    } finally {
      seg.release();
    }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(shipped));
    const plain = await Segmenter.load({ weights: dir });
    try {
      assert.deepEqual(plain.backgroundFor(8), { bgThresh: 0.95, bgBorder: null }, "the paper's rule without a calibrated one");
    } finally {
      plain.release();
    }
    writeCalibration(dir, { ...r, bgThresh: 0.25, bgBorder: null });
    // a value that is not a threshold or a share is one sentence
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: { ...raw.groupvit, bg_thresh: 'low' } }));
    assert.throws(() => calibratedRule(join(dir, 'config.json')), (e: unknown) => e instanceof UserError && /groupvit\.bg_thresh/.test(e.message));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: { ...raw.groupvit, bg_thresh_by_classes: { 3: 2 } } }));
    assert.throws(() => calibratedRule(join(dir, 'config.json')), (e: unknown) => e instanceof UserError && /bg_thresh_by_classes/.test(e.message));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: { ...raw.groupvit, refine: 'crf' } }));
    assert.throws(() => modelCalibration(join(dir, 'config.json')), (e: unknown) => e instanceof UserError && /groupvit\.refine/.test(e.message));
    const { refine: _r, ...unrefined } = raw.groupvit;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: unrefined }));
    assert.equal(modelCalibration(join(dir, 'config.json'))!.refine, 'none', 'a calibration from before refinement is unrefined');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: { ...raw.groupvit, augment: 'twist' } }));
    assert.throws(() => modelCalibration(join(dir, 'config.json')), (e: unknown) => e instanceof UserError && /groupvit\.augment/.test(e.message));
    const { augment: _a, ...unviewed } = raw.groupvit;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: unviewed }));
    assert.equal(calibratedAugment(join(dir, 'config.json')), 'none', 'a calibration from before the views has none');
    for (const bad of [0, 1.5, 'border']) {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: { ...raw.groupvit, bg_border: bad } }));
      assert.throws(() => modelCalibration(join(dir, 'config.json')), (e: unknown) => e instanceof UserError && /groupvit\.bg_border/.test(e.message), String(bad));
    }
  } finally {
    model.release();
  }
});

test('calibration with test-time views: each threshold scores as eval with the views does; the better of the image alone and the views is chosen and recorded', async () => {
  const config = readConfig(join(SHIPPED, 'config.json'));
  const model = new GroupViTModel(config);
  try {
    await loadWeights(model, SHIPPED);
    const tok = loadTokenizer(SHIPPED, config);
    const thresholds = [0.5, 0.1, 0];
    const o = { seed: 3, count: 6, imageSize: 64, batch: 3 };
    const r = await calibrateShapes(model, tok, { ...o, grid: backgroundGrid(thresholds, [0.25]), refines: ['pamr'], augments: ['none', 'dihedral+shift'], isolates: [false] });
    assert.deepEqual(r.augmentTried.map((t) => [t.augment, t.isolate, t.bgThresh]), thresholds.map((t) => ['dihedral+shift', false, t]), 'every threshold under the rule chosen for the image alone');
    for (const t of r.augmentTried) {
      const e = await evaluateShapes(model, tok, { ...o, bgThresh: t.bgThresh, bgBorder: 0.25, refine: 'pamr', augment: 'dihedral+shift' });
      assert.ok(Math.abs(e.mIoU - t.mIoU) < 1e-12, `${t.bgThresh}: ${t.mIoU} vs eval ${e.mIoU}`);
    }
    const alone = bestThreshold(r.tried);
    assert.ok(r.augmentTried.some((t, j) => t.mIoU !== r.tried[j].mIoU), 'the views change the segmentation');
    const views = bestThreshold(r.augmentTried);
    const expect = views.mIoU > alone.mIoU ? views : { ...alone, augment: 'none' };
    assert.deepEqual([r.augment, r.isolate, r.bgThresh, r.bgBorder, r.refine, r.mIoU], [expect.augment, false, expect.bgThresh, 0.25, 'pamr', expect.mIoU]);
    const dir = mkdtempSync(join(tmpdir(), 'gv-cal-views-'));
    cpSync(SHIPPED, dir, { recursive: true });
    writeCalibration(dir, { ...r, augment: 'dihedral+shift' });
    assert.equal(calibratedAugment(join(dir, 'config.json')), 'dihedral+shift');
    const seg = await Segmenter.load({ weights: dir });
    try {
      assert.equal(seg.augmentDefault, 'dihedral+shift', 'segment uses the calibrated views unless told otherwise');
    } finally {
      seg.release();
    }
  } finally {
    model.release();
  }
});

test('calibration with object groups named alone: each (views, isolation) pair scores as eval does; the best is recorded and becomes eval\'s and segment\'s default', async () => {
  const config = readConfig(join(SHIPPED, 'config.json'));
  const model = new GroupViTModel(config);
  try {
    await loadWeights(model, SHIPPED);
    const tok = loadTokenizer(SHIPPED, config);
    const thresholds = [0.3, 0];
    const o = { seed: 4, count: 5, imageSize: 64, batch: 3 };
    const r = await calibrateShapes(model, tok, { ...o, grid: backgroundGrid(thresholds, [0.25]), refines: ['none'], augments: ['none', 'flip'], isolates: [false, true] });
    // the image alone without isolation is the first pass's; every other pair once, at every threshold
    const pairs = [['none', true], ['flip', false], ['flip', true]] as const;
    assert.deepEqual(r.augmentTried.map((t) => [t.augment, t.isolate, t.bgThresh]), pairs.flatMap(([a, i]) => thresholds.map((t) => [a, i, t])));
    for (const t of r.augmentTried) {
      const e = await evaluateShapes(model, tok, { ...o, bgThresh: t.bgThresh, bgBorder: 0.25, augment: t.augment, isolate: t.isolate });
      assert.ok(Math.abs(e.mIoU - t.mIoU) < 1e-12, `${t.augment} ${t.isolate} ${t.bgThresh}: ${t.mIoU} vs eval ${e.mIoU}`);
    }
    const isolated = r.augmentTried.filter((t) => t.isolate);
    const plain = r.augmentTried.filter((t) => t.augment === 'flip' && !t.isolate);
    assert.ok(isolated.some((t) => t.augment === 'flip' && plain.every((p) => p.mIoU !== t.mIoU)), 'naming the groups alone changes the segmentation');
    const expect = bestThreshold([{ augment: 'none', isolate: false, bgThresh: bestThreshold(r.tried).bgThresh, mIoU: bestThreshold(r.tried).mIoU }, ...r.augmentTried]);
    assert.deepEqual([r.augment, r.isolate, r.bgThresh, r.mIoU], [expect.augment, expect.isolate, expect.bgThresh, expect.mIoU]);

    const dir = mkdtempSync(join(tmpdir(), 'gv-cal-iso-'));
    cpSync(SHIPPED, dir, { recursive: true });
    writeCalibration(dir, { ...r, augment: 'none', isolate: true, bgThresh: 0, bgBorder: 0.25 });
    assert.equal(calibratedIsolate(join(dir, 'config.json')), true);
    const seg = await Segmenter.load({ weights: dir });
    try {
      assert.equal(seg.isolateDefault, true, 'segment names object groups alone as calibrated');
    } finally {
      seg.release();
    }
    // eval's default is the calibration's; --no-isolate turns it off
    const evalJson = (extra: string[]) => {
      const run = spawnSync(process.execPath, ['bin/groupvit.js', 'eval', '--weights', dir, '--count', '5', '--seed', '4', '--json', ...extra], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      return JSON.parse(run.stdout).mIoU as number;
    };
    const own = await evaluateShapes(model, tok, { ...o, bgThresh: 0, bgBorder: 0.25, refine: 'none', isolate: true });
    const off = await evaluateShapes(model, tok, { ...o, bgThresh: 0, bgBorder: 0.25, refine: 'none', isolate: false });
    assert.ok(Math.abs(evalJson([]) - own.mIoU) < 1e-9, 'eval without the flag names the groups alone');
    assert.ok(Math.abs(evalJson(['--no-isolate']) - off.mIoU) < 1e-9, '--no-isolate does not');
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: { ...raw.groupvit, isolate: 'yes' } }));
    assert.throws(() => modelCalibration(join(dir, 'config.json')), (e: unknown) => e instanceof UserError && /groupvit\.isolate/.test(e.message));
    const { isolate: _i, ...before } = raw.groupvit;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, groupvit: before }));
    assert.equal(calibratedIsolate(join(dir, 'config.json')), false, 'a calibration from before isolation names groups by their own scores');
  } finally {
    model.release();
  }
});

test('groupvit calibrate: --dry-run leaves config.json as it was; bad arguments are one sentence', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gv-cal2-'));
  cpSync(SHIPPED, dir, { recursive: true });
  const before = readFileSync(join(dir, 'config.json'), 'utf8');
  const r = spawnSync(process.execPath, ['bin/groupvit.js', 'calibrate', '--weights', dir, '--count', '4', '--seed', '2', '--dry-run', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  const report = JSON.parse(out);
  assert.equal(report.written, false);
  assert.equal(report.tried.length, 160, '16 thresholds under each of 5 rules, group maps refined or not');
  assert.ok(report.bgBorder === null || typeof report.bgBorder === 'number');
  assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), before);
  await assert.rejects(calibrateCommand({}), (e: unknown) => e instanceof UserError && /--weights/.test(e.message));
  await assert.rejects(calibrateCommand({ weights: dir, count: '0' }), (e: unknown) => e instanceof UserError && /--count/.test(e.message));
});
