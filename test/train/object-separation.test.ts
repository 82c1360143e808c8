// The separation term: two objects the caption names apart (its colour words find their patches,
// train/colour-grounding.ts) should not share a final group. The weights by hand, the term on hand-made assignments
// (0 apart, 1 together, the share in between), its mean over the images it counts, and a training step that reports it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallPresetConfig, useGpu } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { compositeAssignment, separationTerm } from '../../src/model/losses.js';
import { objectRepulsion } from '../../src/train/colour-grounding.js';
import { ShapesBatches } from '../../src/train/batches.js';
import { loadTokenizer } from '../../src/data/tokenizer/index.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { TrainStep, groupingTermWeightAt } from '../../src/train/step.js';

useGpu();

test('objectRepulsion: Σ over two different keys of w_n(t)·w_m(u), normalised per image; fewer than two grounded keys, none', () => {
  const l = 3;
  // image 0: key 0 on patches 0 (all) and 1 (half), key 1 on patch 2; image 1: one key; image 2: two keys, one empty
  const weights = [Float32Array.of(1, 0.5, 0, 0, 0, 1), Float32Array.of(1, 1, 0), Float32Array.of(1, 0, 0, 0, 0, 0)];
  const { repulsion: r, images } = objectRepulsion(weights, l);
  assert.equal(images, 1);
  // pairs (0,2), (1,2) and their mirrors: 1, 0.5, 1, 0.5 over a total of 3
  const want = [0, 0, 1 / 3, 0, 0, 0.5 / 3, 1 / 3, 0.5 / 3, 0];
  want.forEach((v, k) => assert.ok(Math.abs(r[k] - v) < 1e-7, `r[${k}] = ${r[k]}, want ${v}`));
  assert.ok(r.subarray(l * l).every((v) => v === 0), 'images 1 and 2 have no weights');
  assert.throws(() => objectRepulsion([new Float32Array(4)], 3), /whole rows/);
});

test('separation term: 0 with the objects apart, 1 in one group, the shared share between; a mean over counted images', async () => {
  // one image of 4 patches: patches 0, 1 one object, patch 2 another, patch 3 backdrop; a second image with no objects
  const { repulsion, images } = objectRepulsion([Float32Array.of(1, 1, 0, 0, 0, 0, 1, 0), new Float32Array(0)], 4);
  assert.equal(images, 1);
  const cost = async (of: number[], weight: number) => tidyAsync(async () => {
    const raw = new Float32Array(2 * 2 * 4);
    // both images' patches go where `of` says; the second image counts for nothing
    for (let i = 0; i < 2; i++) of.forEach((g, t) => (raw[(i * 2 + g) * 4 + t] = 40));
    const c = compositeAssignment([Tensor.fromArray(raw, [2, 2, 4])]);
    const [v] = await separationTerm(c, Tensor.fromArray(repulsion, [2, 4, 4]), images, weight).toArray();
    return v;
  });
  assert.ok(Math.abs(await cost([0, 0, 1, 1], 1)) < 1e-5, 'objects apart');
  assert.ok(Math.abs((await cost([0, 0, 0, 1], 1)) - 1) < 1e-5, 'objects together');
  // patch 1 joins the second object: of the 4 weighted ordered pairs (0,2), (1,2) and mirrors, half share a group
  assert.ok(Math.abs((await cost([0, 1, 1, 0], 2)) - 1) < 1e-5, 'half shared at weight 2');
});

test('a training step with the separation term reports it in [0, weight] from its start, and not before', async () => {
  const config = smallPresetConfig(64, [8, 4]);
  const tok = loadTokenizer('/nonexistent', config);
  const input = new ShapesBatches(4, 6, 64, tok, { k: 2, templates: 'simple', withModifiers: false, sharedTargets: true, uniquePrompts: true, captionColourDrop: 1 }).batch(0);
  const model = new GroupViTModel(config, 4);
  const step = new TrainStep(model, { seed: 2, weightDecay: 0, maxNorm: 5, multiLabel: true, groupBalance: 1, groupSeparation: 1.5, groupSmoothnessStart: 1 });
  const rs = [];
  for (let s = 0; s < 3; s++) rs.push(await step.run(input, 2e-3));
  step.release();
  model.release();
  for (const [s, r] of rs.entries()) {
    const w = groupingTermWeightAt(1.5, 1, s);
    assert.ok(Number.isFinite(r.loss));
    if (w === 0) {
      assert.equal(r.separation, undefined, `step ${s}: off before its start`);
      continue;
    }
    assert.ok(r.separation !== undefined && r.separation >= 0 && r.separation <= w + 1e-6, `step ${s}: separation ${r.separation} of weight ${w}`);
    // near the paper's init every patch is spread over the groups: two objects share about a quarter of their pairs
    assert.ok(r.separation! > 0.05 * w, `step ${s}: separation ${r.separation}`);
  }
  assert.ok(rs.some((r) => r.separation !== undefined), 'on from its start');
});
