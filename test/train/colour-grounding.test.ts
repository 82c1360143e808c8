// The grounded noun loss: a caption's colour words find its nouns' pixels (data/colour-words.ts,
// train/colour-grounding.ts), the final group overlapping them best is matched to the noun (model/noun-matching.ts
// groundedGroups), and a two-way cross-entropy names it so (model/losses.ts groundedNounLoss). Each piece by hand, the
// loss against float64 with finite differences, and a training step that reports it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randn, smallPresetConfig, useGpu } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { scaledCosineRef, twoWayCrossEntropyRef } from '../noun-loss-ref.js';
import { COLOUR_WORDS, colourWordOf, colourWordsIn, hueOf } from '../../src/data/colour-words.js';
import { BACKDROP_COLOURS, COLOURS } from '../../src/data/shapes/world.js';
import { groundingWeights, keyColours } from '../../src/train/colour-grounding.js';
import { groundedGroups, targetsFromGroups } from '../../src/model/noun-matching.js';
import { groundedNounLoss, groupvitLosses } from '../../src/model/losses.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { backward } from '../../src/tensor/tape.js';
import { normalizeImages } from '../../src/io/normalize-pixels.js';
import { ShapesBatches } from '../../src/train/batches.js';
import { loadTokenizer } from '../../src/data/tokenizer/index.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { TrainStep } from '../../src/train/step.js';

useGpu();

const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

test('colourWordOf: every paint of the world at its shade and tint extremes is its own word; no backdrop has one', () => {
  for (const [word, rgb] of Object.entries(COLOURS)) {
    // the generator's jitter (shapes/scene.ts): a brightness of 0.88–1.08 and a tint of ±14 per channel, then ±8% of lighting
    for (const [bright, light] of [[0.88, 0.92], [0.88, 1.08], [1, 1], [1.08, 0.92], [1.08, 1.08]]) {
      for (const tint of [[-14, -14, -14], [14, -14, 14], [-14, 14, -14], [14, 14, 14], [14, -14, -14], [-14, 14, 14], [-14, -14, 14], [14, 14, -14]]) {
        const [r, g, b] = rgb.map((c, k) => clamp((c * bright + tint[k]) * light));
        assert.equal(colourWordOf(r, g, b), word, `${word} at ×${bright} ${tint}: rgb ${r},${g},${b}`);
      }
    }
  }
  for (const [name, rgb] of Object.entries(BACKDROP_COLOURS)) {
    for (const bright of [0.9, 1, 1.1]) {
      const [r, g, b] = rgb.map((c) => clamp(c * bright));
      assert.equal(colourWordOf(r, g, b), null, `${name} ×${bright}`);
    }
  }
  assert.equal(colourWordOf(0, 0, 0), null);
  assert.equal(colourWordOf(255, 255, 255), null);
  // saturated but far from every word's hue: a yellow-green (hue 93°)
  assert.equal(colourWordOf(120, 220, 40), null);
  assert.ok(Math.abs(hueOf(...COLOURS.red) - 0) < 1e-9 && Math.abs(hueOf(0, 0, 255) - 240) < 1e-9 && Number.isNaN(hueOf(9, 9, 9)));
  // a synonym grounds as the word it shares its prototype with
  const [vr, vg, vb] = COLOUR_WORDS.violet;
  assert.equal(colourWordOf(vr, vg, vb), 'purple');
  assert.deepEqual(colourWordsIn('a Bright VIOLET star'), ['purple']);
  assert.deepEqual(colourWordsIn('grey background'), []);
  assert.deepEqual(colourWordsIn('red and blue striped ring'), ['red', 'blue']);
});

test('keyColours: a noun takes its phrases\' colours, a phrase key its own, a colour two nouns share grounds neither', () => {
  const phrases = [
    { noun: 'star', phrase: 'red star' },
    { noun: 'star', phrase: 'blue star' },
    { noun: 'moon', phrase: 'red moon' },
    { noun: 'ring', phrase: 'green ring' },
    { noun: 'background', phrase: 'grey background' },
  ];
  assert.deepEqual(keyColours(['star', 'moon', 'ring', 'background', 'blue star', 'heart'], phrases), [['blue'], [], ['green'], [], ['blue'], []]);
});

/** A 2-image batch of 8×8 pixels on a 2×2 patch grid: image 0 a red 4×4 block top-left and a blue column, image 1 flat grey. */
function twoImages() {
  const make = (paint: (x: number, y: number) => readonly number[]) => {
    const data = new Uint8Array(8 * 8 * 3);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) data.set(paint(x, y), (y * 8 + x) * 3);
    return { width: 8, height: 8, data };
  };
  const grey = BACKDROP_COLOURS.grey;
  const a = make((x, y) => (x < 4 && y < 4 ? COLOURS.red : x === 6 ? COLOURS.blue : grey));
  const b = make(() => grey);
  return normalizeImages([a, b]);
}

test('groundingWeights: each key\'s share of every patch in its colours, from the normalised pixels', () => {
  const pixels = twoImages();
  const keys = [['star', 'moon', 'background'], ['ring']];
  const phrases = [
    [{ noun: 'star', phrase: 'red star' }, { noun: 'moon', phrase: 'blue moon' }, { noun: 'background', phrase: 'grey background' }],
    [{ noun: 'ring', phrase: 'orange ring' }],
  ];
  const w = groundingWeights(pixels, [2, 3, 8, 8], 2, 2, keys, phrases);
  assert.equal(w.length, 2);
  // star: the whole top-left patch; moon: one column of 4 in each right-hand patch (4 of 16 pixels)
  assert.deepEqual([...w[0]], [1, 0, 0, 0, 0, 0.25, 0, 0.25, 0, 0, 0, 0]);
  // an orange ring the picture does not show grounds nowhere
  assert.deepEqual([...w[1]], [0, 0, 0, 0]);
  assert.throws(() => groundingWeights(pixels, [2, 3, 8, 8], 3, 3, keys, phrases), /does not split/);
});

test('groundedGroups: keys to distinct groups by the best summed IoU, pairs under the bar left out', () => {
  // one image, 4 patches, 3 groups: hard assignment patch -> group [0, 1, 1, 2]
  const hard = [0, 1, 1, 2];
  const assignment = Float32Array.from(hard.flatMap((g) => [0, 1, 2].map((k) => (k === g ? 1 : 0))));
  // key A on patch 0 (IoU with group 0: 1), key B on patches 1 and 3 (IoU 1/3 with group 1, 1/2 with group 2),
  // key C on patch 0 too: group 0 is A's, and C's other overlaps are 0
  const w = Float32Array.of(1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0);
  const [g] = groundedGroups(assignment, [w], [['A', 'B', 'C']], 3);
  assert.deepEqual([...g], [0, 2, -1]);
  // with the bar above 1/2, B grounds nowhere
  assert.deepEqual([...groundedGroups(assignment, [w], [['A', 'B', 'C']], 3, 0.6)[0]], [0, -1, -1]);
  // soft assignment: IoU = Σ w·a / (Σ w + Σ a − Σ w·a)
  const soft = Float32Array.of(0.5, 0.5, 0.5, 0.5);
  const [s] = groundedGroups(soft, [Float32Array.of(1, 0)], [['A']], 2, 0.2);
  // inter 0.5, area 1, group size 1: IoU 1/3, matched to the lower group of the tie
  assert.deepEqual([...s], [0]);
  assert.throws(() => groundedGroups(assignment, [w.slice(1)], [['A', 'B', 'C']], 3), /11 weights/);
  // targets: the grounded group's row spreads over its noun's prompts, the prompt's column over the grounded groups
  const t = targetsFromGroups([Int32Array.of(0, 2, -1)], 3, [['A', 'B', 'C']], ['A', 'A', 'B', 'C']);
  assert.deepEqual([...t.rows], [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual([...t.cols], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
});

/** float64 reference of groundedNounLoss: cosine logits, the targets of the grounding, the two-way cross-entropy. */
function groundedRef(rows: Float64Array, prompts: Float64Array, logScale: number, p: number, groups: number, imageKeys: string[][], promptKeys: string[], assignment: Float32Array, weights: Float32Array[], weight: number): number {
  const t = targetsFromGroups(groundedGroups(assignment, weights, imageKeys, groups), groups, imageKeys, promptKeys);
  return twoWayCrossEntropyRef(scaledCosineRef(rows, prompts, logScale, p), rows.length / p, prompts.length / p, t.rows, t.cols, weight);
}

test('grounded noun loss: 3 images × 3 groups on 5 patches against 5 prompts, width 7, against float64 and finite differences', async () => {
  const imageKeys = [['star', 'moon'], ['moon'], ['ring', 'star']];
  const promptKeys = ['star', 'star', 'moon', 'ring', 'ring'];
  // hard assignments of 5 patches to 3 groups per image, and each key's pixels on patches
  const hard = [[0, 0, 1, 2, 2], [1, 1, 1, 0, 2], [2, 0, 0, 1, 1]];
  const assignment = Float32Array.from(hard.flat().flatMap((g) => [0, 1, 2].map((k) => (k === g ? 1 : 0))));
  const weights = [Float32Array.of(1, 1, 0, 0, 0, 0, 0, 0, 1, 0.5), Float32Array.of(0, 0, 0, 1, 0), Float32Array.of(0, 1, 1, 0, 0, 0, 0, 0, 0.5, 0.5)];
  const grounded = groundedGroups(assignment, weights, imageKeys, 3);
  assert.deepEqual(grounded.map((g) => [...g]), [[0, 2], [0], [0, 1]]);
  await gradCheck({
    name: 'grounded', shapes: [[9, 7], [5, 7], [1]], seed: 5, init: [randn(63, 31), randn(35, 32), Float64Array.of(1.1)], samples: 30,
    gpu: (xs) => groundedNounLoss(xs[0], 3, xs[1], xs[2], imageKeys, promptKeys, 0.8, assignment, weights),
    ref: (xs) => Float64Array.of(groundedRef(xs[0], xs[1], xs[2][0], 7, 3, imageKeys, promptKeys, assignment, weights, 0.8)), atol: 2e-5, gradAtol: 2e-4,
  });
});

/**
 * A small model on the tiny preset's world (64×64 scenes, an 8×8 grid, 8 then 4 groups) and a batch of 6 scenes. Its
 * grouping q/k start 30× the paper's init: at the paper's, every patch is a quarter in each group and no group overlaps
 * a noun's pixels enough to be grounded.
 */
async function groundableSetup() {
  const config = smallPresetConfig(64, [8, 4]);
  const tok = loadTokenizer('/nonexistent', config);
  const input = new ShapesBatches(4, 6, 64, tok, { k: 2, templates: 'simple', withModifiers: false, sharedTargets: true, uniquePrompts: true, captionColourDrop: 1 }).batch(0);
  const model = new GroupViTModel(config, 4);
  for (const stage of model.vision_model.encoder.stages) await stage.downsample?.assign.scaleInit(30);
  return { input, model };
}

test('a training step on the generated world with the grounded noun loss reports it, finite (above 0 where groups hold nouns), and the batch carries its phrases', async () => {
  const { input, model } = await groundableSetup();
  assert.equal(input.imagePhrases?.length, 6);
  // the captions lost their colours; the phrases keep them
  assert.ok(input.imagePhrases!.every((ps) => ps.some((p) => colourWordsIn(p.phrase).length > 0)));
  const step = new TrainStep(model, { seed: 2, weightDecay: 0, maxNorm: 5, multiLabel: true, multiLabelPooling: 'both', groupBalance: 1, groupNounGrounding: 1 });
  const rs = [];
  for (let s = 0; s < 3; s++) rs.push(await step.run(input, 2e-3));
  step.release();
  model.release();
  // the first step's groups hold some nouns' pixels (later ones, moved by it, need not)
  assert.ok(rs[0].grounded! > 0, `grounded ${rs[0].grounded}`);
  for (const r of rs) {
    assert.ok(r.grounded !== undefined && Number.isFinite(r.grounded) && r.grounded >= 0, `grounded ${rs.map((x) => x.grounded)}`);
    assert.ok(Number.isFinite(r.loss));
  }
});

test('grounded noun loss with the text held fixed: same losses and image-tower gradients, text gradients as without it', async () => {
  const { input, model } = await groundableSetup();
  model.train();
  const scale = Tensor.fromArray([2.5], []);
  scale.requiresGrad = true;
  const weights = groundingWeights(input.pixels, input.shape, 8, 8, input.imageKeys!, input.imagePhrases!);
  const named = model.namedParameters();
  const text = named.filter(([n]) => n.startsWith('text_model.'));
  const vision = named.filter(([n]) => n.startsWith('vision_model.'));
  assert.ok(text.length > 0 && vision.length > 0);
  /** Loss values and every parameter's gradient after one backward with this grounding. */
  const run = async (groundWeight: number, groundFixedText: boolean) => {
    const out = await tidyAsync(async () => {
      const l = await groupvitLosses(model, scale, { pixels: Tensor.fromArray(input.pixels, input.shape), captionIds: input.captionIds, promptIds: input.promptIds, promptsPerImage: input.promptsPerImage, batch: 6, promptKeys: input.promptKeys, imageKeys: input.imageKeys },
        { hard: true, gumbel: false }, { pooling: 'both', groundWeight, groundingWeights: weights, groundFixedText });
      backward(l.total);
      return { total: await l.total.item(), grounded: l.grounded ? await l.grounded.item() : null };
    });
    const grads = new Map<string, Float32Array>();
    for (const [n, p] of named) {
      if (p.grad) grads.set(n, await p.grad.toArray());
      p.grad?.release();
      p.grad = null;
    }
    scale.grad?.release();
    scale.grad = null;
    return { ...out, grads };
  };
  const trained = await run(1, false);
  const fixed = await run(1, true);
  const none = await run(0, false);
  model.release();
  scale.release();
  assert.ok(fixed.grounded !== null && fixed.grounded > 0, `grounded ${fixed.grounded}`);
  assert.equal(fixed.total, trained.total);
  assert.equal(fixed.grounded, trained.grounded);
  for (const [n] of vision) assert.deepEqual(fixed.grads.get(n), trained.grads.get(n), `${n}: the groups' gradients are the loss's own`);
  let moved = 0;
  for (const [n] of text) {
    const f = fixed.grads.get(n)!;
    const z = none.grads.get(n)!;
    const t = trained.grads.get(n)!;
    const scaleOf = z.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    f.forEach((v, i) => assert.ok(Math.abs(v - z[i]) <= 1e-5 * scaleOf, `${n}[${i}]: ${v} with the text fixed, ${z[i]} without the loss`));
    if (t.some((v, i) => Math.abs(v - z[i]) > 1e-3 * scaleOf)) moved++;
  }
  assert.ok(moved > 0, 'trained, the grounded loss reaches the text tower');
});
