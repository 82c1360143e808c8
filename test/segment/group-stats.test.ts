// The grouping diagnostics of `groupvit eval`, on two hand-made 4-pixel images whose every figure is worked out below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupStats } from '../../src/segment/group-stats.js';

test('GroupStats: image-level hits, groups per image, purity and the oracle-background mIoU', () => {
  const s = new GroupStats(3);
  // Object (label 1) in its own group named class 0, background group named class 2; the image's top class 0 is present.
  s.add(Int32Array.from([0, 0, 1, 1]), Int32Array.from([2, 0]), [0, 0, 1, 1], 0);
  // One group over a background pixel and three of label 2, named class 1; the image's top class 2 (label 3) is absent.
  s.add(Int32Array.from([0, 0, 0, 0]), Int32Array.from([1]), [0, 2, 2, 2], 2);
  const r = s.report();
  assert.equal(r.imageTop1, 0.5);
  assert.equal(r.groupsPerImage, 1.5);
  assert.equal(r.groupPurity, 7 / 8);
  // Oracle: image 1 -> [0, 0, 1, 1] (exact); image 2's group is mostly label 2, so all four pixels become label 2.
  // IoU background 2/3 (one background pixel called 2), label 1: 1, label 2: 3/4.
  assert.ok(Math.abs(r.oracleBackgroundMIoU - (2 / 3 + 1 + 3 / 4) / 3) < 1e-12);
  // Oracle names: image 1 exact again; image 2's one group takes its majority label 2 everywhere, as above (the
  // background threshold plays no part here, so the two oracles agree on these images).
  assert.ok(Math.abs(r.oracleNamingMIoU - (2 / 3 + 1 + 3 / 4) / 3) < 1e-12);
});

test('GroupStats: each object\'s share of its best group and whether that group bears its name', () => {
  const s = new GroupStats(3);
  // Label 1 on pixels 0-2: group 0 holds two of them (and nothing else), group 1 one (beside a background pixel).
  // Best group 0: share 2/2; named class 1 (label 2), so misnamed.
  s.add(Int32Array.from([0, 0, 1, 1]), Int32Array.from([1, 0]), [1, 1, 1, 0], 0);
  // (the image's top class 0 is not its group's name)
  // Label 2 on pixels 1-3, all in the one group with a background pixel: share 3/4, named class 1 (label 2), right.
  s.add(Int32Array.from([0, 0, 0, 0]), Int32Array.from([1]), [0, 2, 2, 2], 1);
  const r = s.report();
  assert.equal(r.objectGroupShare, (1 + 3 / 4) / 2);
  assert.equal(r.objectGroupNamed, 1 / 2);
  // image 1's object group is named class 1 (label 2), not in that image; image 2's is named its top class 1
  assert.equal(r.objectGroupNamedAbsent, 1 / 2);
  assert.equal(r.objectGroupNamedImageTop, 1 / 2);
});

test('GroupStats: objects of a scene of several whose best group is another object\'s too', () => {
  const s = new GroupStats(4);
  // labels 1 and 2 both mostly in group 0, label 3 alone in group 1: two of three objects share
  s.add(Int32Array.from([0, 0, 0, 1, 1, 2]), Int32Array.from([0, 2, 1]), [1, 1, 2, 3, 3, 0], 0);
  // labels 1 and 2 in groups of their own: none share
  s.add(Int32Array.from([0, 1, 2, 2]), Int32Array.from([0, 1, 2]), [1, 2, 0, 0], 0);
  // one object: not counted
  s.add(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 1]), [1, 1, 0, 0], 0);
  assert.equal(s.report().objectsSharingGroup, 2 / 5);
});

test('GroupStats: whether the largest mostly-background group is named with a shape of the image', () => {
  const s = new GroupStats(3);
  // Group 0: 3 background pixels, group 1: 1 background pixel (both mostly background), group 2: label 1 (class 0).
  // The largest is group 0, named class 0, which is in the image: a hit.
  s.add(Int32Array.from([0, 0, 0, 1, 2, 2]), Int32Array.from([0, 2, 1]), [0, 0, 0, 0, 1, 1], 0);
  // Group 0 mostly background, named class 2 (label 3), absent from the image (label 2 only): a miss.
  s.add(Int32Array.from([0, 0, 0, 1]), Int32Array.from([2, 1]), [0, 0, 2, 2], 1);
  // No mostly-background group: not counted.
  s.add(Int32Array.from([0, 0, 0, 0]), Int32Array.from([0]), [1, 1, 1, 0], 0);
  assert.equal(s.report().backgroundGroupNamed, 1 / 2);
});

test('GroupStats: oracle group names give each group its majority label, the smaller of equals', () => {
  const s = new GroupStats(3);
  // group 0: pixels labelled 2, 2, 0 -> 2 (though named class 0); group 1: labels 1, 0 (a tie) -> 0
  s.add(Int32Array.from([0, 0, 0, 1, 1]), Int32Array.from([0, 1]), [2, 2, 0, 1, 0], 0);
  // prediction [2, 2, 2, 0, 0] against [2, 2, 0, 1, 0]: background 1/3, label 1 0/1, label 2 2/3
  assert.ok(Math.abs(s.report().oracleNamingMIoU - (1 / 3 + 0 + 2 / 3) / 3) < 1e-12);
});

test('meanClassCosine: identical names score 1, orthogonal ones 0, a mix its mean', async () => {
  const { meanClassCosine } = await import('../../src/segment/group-stats.js');
  assert.equal(meanClassCosine([1, 0, 1, 0, 1, 0], 3), 1);
  assert.equal(meanClassCosine([1, 0, 0, 0, 1, 0, 0, 0, 1], 3), 0);
  // rows a=(1,0), b=(0,1), c=(0.6,0.8): pairs ab 0, ac 0.6, bc 0.8, each counted twice
  assert.ok(Math.abs(meanClassCosine([1, 0, 0, 1, 0.6, 0.8], 3) - (0 + 0.6 + 0.8) / 3) < 1e-12);
});

test('assignmentMarginSum: the log-ratio of each token\'s two best groups, summed over images and tokens', async () => {
  const { assignmentMarginSum } = await import('../../src/segment/group-stats.js');
  // soft [B=2, S=3, L=2]; columns are tokens. Image 0: token 0 (0.5, 0.25, 0.25) -> ln 2; token 1 (0.2, 0.2, 0.6) -> ln 3.
  // Image 1: token 0 uniform -> 0; token 1 (0.1, 0.8, 0.1) -> ln 8.
  const soft = [0.5, 0.2, 0.25, 0.2, 0.25, 0.6, 1 / 3, 0.1, 1 / 3, 0.8, 1 / 3, 0.1];
  const r = assignmentMarginSum(soft, 2, 3, 2);
  assert.equal(r.count, 4);
  assert.ok(Math.abs(r.sum - (Math.log(2) + Math.log(3) + 0 + Math.log(8))) < 1e-12, String(r.sum));
});

test('GroupStats: naming by the number of objects in the scene, and the naming confusion', () => {
  const s = new GroupStats(4);
  // One object (label 1) in group 1, named class 0: right.
  s.add(Int32Array.from([0, 0, 1, 1]), Int32Array.from([2, 0]), [0, 0, 1, 1], 0);
  // One object (label 3) in group 0, named class 0: wrong (read as label 1).
  s.add(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 1]), [3, 3, 0, 0], 0);
  // Two objects: label 1 in group 0 and label 2 in group 1, both groups named class 1 (label 2): one right, one echo.
  s.add(Int32Array.from([0, 0, 1, 1]), Int32Array.from([1, 1]), [1, 1, 2, 2], 1);
  const r = s.report();
  // one-object scenes: 2, half named right; two-object scenes: 1, half its objects named right
  assert.deepEqual(r.objectGroupNamedByObjects, [[2, 1 / 2], [1, 1 / 2]]);
  assert.deepEqual(r.namingConfusion, [
    [1, 1, 0],
    [0, 1, 0],
    [1, 0, 0],
  ]);
});

test('GroupStats: the share of a scene\'s classes among the image-level top n, by the number n of classes in the scene', () => {
  const s = new GroupStats(4);
  const groups = Int32Array.from([0, 0, 0, 0]);
  const names = Int32Array.from([0]);
  // one class (label 2 = class 1), ranked first: 1 of 1
  s.add(groups, names, [0, 2, 2, 0], 1, [0.1, 0.6, 0.2, 0.1]);
  // one class (label 3 = class 2), ranked second: 0 of 1
  s.add(groups, names, [3, 3, 0, 0], 0, [0.5, 0.1, 0.3, 0.1]);
  // two classes (labels 1 and 3 = classes 0 and 2): top 2 are classes 0 and 1, so 1 of 2
  s.add(groups, names, [1, 3, 0, 0], 0, [0.4, 0.3, 0.2, 0.1]);
  // two classes (classes 1 and 2) with classes 1 and 2 tied behind class 3 ... top 2 are 3 and 1 (the smaller index of equals): 1 of 2
  s.add(groups, names, [2, 3, 0, 0], 3, [0.1, 0.25, 0.25, 0.4]);
  // two classes, both on top: 2 of 2
  s.add(groups, names, [2, 1, 0, 0], 1, [0.3, 0.5, 0.1, 0.1]);
  // no scores given: the scene is left out of the recall
  s.add(groups, names, [2, 1, 0, 0], 1);
  const r = s.report();
  assert.deepEqual(r.imageClassRecallByObjects, [[2, 1 / 2], [3, 4 / 6]]);
  const none = new GroupStats(4);
  none.add(groups, names, [2, 1, 0, 0], 1);
  assert.equal(none.report().imageClassRecallByObjects, undefined);
});
