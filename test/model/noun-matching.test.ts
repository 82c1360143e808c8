// The matched noun loss: each image's nouns matched one-to-one to its final groups (host), then a two-way
// cross-entropy between groups and prompts. The matching against an enumeration of every assignment, the targets by
// hand, and the loss against float64 with finite differences on odd shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randn, rng, useGpu } from '../helpers.js';
import { gradCheck } from '../gradcheck.js';
import { scaledCosineRef, twoWayCrossEntropyRef } from '../noun-loss-ref.js';
import { backdropGroups, bestMatching, matchedNounTargets } from '../../src/model/noun-matching.js';
import { matchedNounLoss } from '../../src/model/losses.js';

useGpu();

/** Every assignment of n nouns to g groups (-1: unmatched) with distinct groups and min(n, g) matched: the best total. */
function enumerateBest(score: Float64Array, n: number, g: number): number {
  let best = -Infinity;
  const total = (g + 1) ** n;
  for (let code = 0; code < total; code++) {
    const pick = Array.from({ length: n }, (_, i) => Math.floor(code / (g + 1) ** i) % (g + 1) - 1);
    const used = pick.filter((x) => x >= 0);
    if (new Set(used).size !== used.length || used.length !== Math.min(n, g)) continue;
    best = Math.max(best, pick.reduce((a, x, i) => (x >= 0 ? a + score[i * g + x] : a), 0));
  }
  return best;
}

test('bestMatching: the one-to-one assignment with the highest total, not the greedy one', () => {
  // greedy gives noun 0 its best group (5) and noun 1 what is left (0): 5; the matching gives 4 + 4
  assert.deepEqual([...bestMatching([5, 4, 0, 4, 0, 0], 2, 3)], [1, 0]);
  // more nouns than groups: the two that gain most are matched, the other left out
  assert.deepEqual([...bestMatching([1, 0, 5, 0, 0, 2], 3, 2)], [-1, 0, 1]);
  // ties go to the lower groups, in noun order
  assert.deepEqual([...bestMatching([0, 0, 0, 0, 0, 0], 2, 3)], [0, 1]);
  assert.deepEqual([...bestMatching([], 0, 4)], []);
  const r = rng(11);
  for (let c = 0; c < 60; c++) {
    const n = 1 + Math.floor(r() * 4);
    const g = 1 + Math.floor(r() * 4);
    const score = Float64Array.from({ length: n * g }, () => r() * 4 - 2);
    const m = [...bestMatching(score, n, g)];
    const used = m.filter((x) => x >= 0);
    assert.equal(new Set(used).size, used.length, `distinct groups ${m}`);
    assert.equal(used.length, Math.min(n, g));
    const got = m.reduce((a, x, i) => (x >= 0 ? a + score[i * g + x] : a), 0);
    assert.ok(Math.abs(got - enumerateBest(score, n, g)) < 1e-12, `case ${c}: ${got} vs ${enumerateBest(score, n, g)}`);
  }
});

test('matchedNounTargets: two images, two groups each, by hand', () => {
  // prompts: circle, circle, star, star. Image 0 owns circle and star; its group 0 scores star highest and circle a
  // little less than group 1 does, so star→0, circle→1 (total 9 + 3 against 2 + 4). Image 1 owns circle only.
  const keys = ['circle', 'circle', 'star', 'star'];
  const logits = Float32Array.from([
    2, 2, 9, 9, // image 0, group 0
    3, 3, 4, 4, // image 0, group 1
    1, 1, 0, 0, // image 1, group 0
    5, 7, 0, 0, // image 1, group 1
  ]);
  const t = matchedNounTargets(logits, 2, [['circle', 'star'], ['circle']], keys);
  assert.deepEqual(t.groupOf.map((g) => [...g]), [[1, 0], [1]]);
  assert.deepEqual([...t.rows], [0, 0, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0]);
  // a circle prompt's column: the circle groups of both owners; a star prompt's: image 0's group 0 alone
  assert.deepEqual([...t.cols], [0, 0, 1, 1, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0]);
  // a noun no prompt names is left unmatched, and a repeated noun is matched once
  const u = matchedNounTargets(logits, 2, [['moon', 'star', 'star'], ['circle']], keys);
  assert.deepEqual(u.groupOf.map((g) => [...g]), [[-1, 0, 0], [1]]);
  assert.deepEqual([...u.rows.slice(0, 8)], [0, 0, 0.5, 0.5, 0, 0, 0, 0]);
  assert.throws(() => matchedNounTargets(logits.slice(1), 2, [['star'], ['circle']], keys), /15 logits/);
});

test('held-out backdrop: the group holding most border patches takes no noun and stays a negative', () => {
  // a 3×4 grid, 3 groups: image 0's border is mostly group 2 (the middle two patches are group 0); image 1's is
  // group 1 except one patch, in soft assignments
  const grid = (fn: (y: number, x: number) => number[]) => Array.from({ length: 12 }, (_, t) => fn(Math.floor(t / 4), t % 4)).flat();
  const a = Float32Array.from([
    ...grid((y, x) => (y === 1 && (x === 1 || x === 2) ? [1, 0, 0] : [0.1, 0.2, 0.7])),
    ...grid((y, x) => (y === 0 && x === 0 ? [0, 0, 1] : [0.3, 0.6, 0.1])),
  ]);
  assert.deepEqual([...backdropGroups(a, 2, 3, 4, 3)], [2, 1]);
  assert.throws(() => backdropGroups(a.slice(3), 2, 3, 4, 3), /69 values/);
  // image 0 matches star→0 and circle→1; with group 0 held out one group is free, and it goes to the noun that
  // scores higher there (circle 5 against star 3): star is left out
  const keys = ['circle', 'star'];
  const logits = Float32Array.from([1, 9, 5, 3, 0, 0, 0, 0]);
  const free = matchedNounTargets(logits, 2, [['circle', 'star'], []], keys);
  assert.deepEqual([...free.groupOf[0]], [1, 0]);
  const held = matchedNounTargets(logits, 2, [['circle', 'star'], []], keys, Int32Array.of(0, -1));
  assert.deepEqual([...held.groupOf[0]], [1, -1]);
  assert.deepEqual([...held.rows], [0, 0, 1, 0, 0, 0, 0, 0]);
  // circle's column targets group 1 of image 0; group 0 (held out) is among its negatives with a zero target
  assert.deepEqual([...held.cols], [0, 0, 1, 0, 0, 0, 0, 0]);
});

/** The loss in float64: scaled cosine, the matching on its float32 values, then the two-way cross-entropy. */
function matchedRef(rows: Float64Array, prompts: Float64Array, logScale: number, p: number, groups: number, imageKeys: string[][], promptKeys: string[], weight: number): number {
  const logits = scaledCosineRef(rows, prompts, logScale, p);
  const t = matchedNounTargets(Float32Array.from(logits), groups, imageKeys, promptKeys);
  return twoWayCrossEntropyRef(logits, rows.length / p, prompts.length / p, t.rows, t.cols, weight);
}

test('matched noun loss: 3 images × 3 groups against 6 prompts, width 5, against float64 and finite differences', async () => {
  const imageKeys = [['star', 'moon'], ['moon'], ['ring', 'star', 'moon']];
  const promptKeys = ['star', 'star', 'moon', 'moon', 'ring', 'ring'];
  const shapes = [[9, 5], [6, 5], [1]];
  const rows = randn(45, 21);
  const prompts = randn(30, 22);
  // the matching is piecewise constant; finite differences of 1e-4 stay inside one piece at these seeds
  await gradCheck({
    name: 'matched', shapes, seed: 3, init: [rows, prompts, Float64Array.of(1.2)], samples: 30,
    gpu: (xs) => matchedNounLoss(xs[0], 3, xs[1], xs[2], imageKeys, promptKeys, 0.7),
    ref: (xs) => Float64Array.of(matchedRef(xs[0], xs[1], xs[2][0], 5, 3, imageKeys, promptKeys, 0.7)), atol: 2e-5, gradAtol: 2e-4,
  });
});
