// Test-time views (segment/views.ts) against hand-made maps: which views an augmentation makes, where a shifted view
// puts every pixel (and which it loses), its reflected edge, and the decision on the views' mean scores: most views'
// backdrop or a mean best score under the threshold is background, a pixel no view saw is background. No GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shiftedViewImage, shiftedViewIndex, testViews, ViewAverage } from '../../src/segment/views.js';
import { argmaxChannels, parseAugment, symmetries, viewImage, viewSize } from '../../src/segment/dihedral.js';
import { newImage } from '../../src/io/image.js';
import { UserError } from '../../src/util/errors.js';

test('testViews: the symmetries, and with +shift each again moved by half a patch', () => {
  assert.deepEqual(testViews('none', 8), [{ mirror: false, turns: 0, shift: 0 }]);
  assert.deepEqual(testViews('flip+shift', 8), [
    { mirror: false, turns: 0, shift: 0 },
    { mirror: true, turns: 0, shift: 0 },
    { mirror: false, turns: 0, shift: 4 },
    { mirror: true, turns: 0, shift: 4 },
  ]);
  const all = testViews('dihedral+shift', 7);
  assert.equal(all.length, 16);
  assert.deepEqual(all.slice(0, 8), symmetries('dihedral').map((s) => ({ ...s, shift: 0 })));
  assert.deepEqual(all.slice(8), symmetries('dihedral').map((s) => ({ ...s, shift: 3 })));
  assert.deepEqual(testViews('dihedral', 8).length, 8);
  assert.equal(parseAugment('dihedral+shift'), 'dihedral+shift');
  assert.throws(() => parseAugment('shift'), UserError);
});

test('a shifted view: every pixel the view still sees is where the index says, the lost ones are -1, the edge is mirrored in', () => {
  const [h, w] = [5, 7];
  const img = newImage(w, h);
  for (let p = 0; p < h * w; p++) img.data.set([p, 100 + p, 200 - p], p * 3);
  for (const v of testViews('dihedral+shift', 4)) {
    const seen = shiftedViewImage(img, v);
    const [vh, vw] = viewSize(v, h, w);
    assert.deepEqual([seen.height, seen.width], [vh, vw]);
    const index = shiftedViewIndex(v, h, w);
    let lost = 0;
    for (let p = 0; p < h * w; p++) {
      if (index[p] < 0) {
        lost++;
        continue;
      }
      assert.deepEqual([...seen.data.subarray(index[p] * 3, index[p] * 3 + 3)], [p, 100 + p, 200 - p], `${JSON.stringify(v)}: pixel ${p}`);
    }
    assert.equal(lost, h * w - (vh - v.shift) * (vw - v.shift), `${JSON.stringify(v)}: the last ${v.shift} rows and columns leave the picture`);
    // the uncovered top rows and left columns mirror the rows and columns next to them
    const turned = viewImage(img, v);
    const at = (im: typeof img, y: number, x: number) => [...im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3)];
    for (let y = 0; y < v.shift; y++) for (let x = v.shift; x < vw; x++) assert.deepEqual(at(seen, y, x), at(turned, v.shift - 1 - y, x - v.shift));
    for (let x = 0; x < v.shift; x++) for (let y = v.shift; y < vh; y++) assert.deepEqual(at(seen, y, x), at(turned, y - v.shift, v.shift - 1 - x));
  }
});

test('ViewAverage: the threshold on the mean scores, the backdrop by majority, and pixels no view saw', () => {
  // a 1×3 image, background + 2 classes, three unshifted views
  const id = { mirror: false, turns: 0 as const, shift: 0 };
  const avg = new ViewAverage(3, 1, 3);
  // channel-major [bg, class 1, class 2] × pixels 0..2
  avg.add([0, 1, 0, /**/ 0.3, 0.1, 0.05, /**/ 0.2, 0.1, 0.05], id);
  avg.add([0, 1, 0, /**/ 0.4, 0.1, 0.05, /**/ 0.1, 0.1, 0.05], id);
  avg.add([1, 0, 0, /**/ 0.2, 0.1, 0.05, /**/ 0.3, 0.1, 0.05], id);
  const d = avg.decide(0.1);
  // pixel 0: one backdrop call of three, mean class scores 0.3 / 0.2: class 1 (the scores' mean averaged with the 0/1
  // calls, mmseg's way, would have made it background: 1/3 > 0.3)
  // pixel 1: two backdrop calls of three: background; pixel 2: mean best 0.05 under 0.1: background
  assert.deepEqual([...argmaxChannels(d, 3, 3)], [1, 0, 0]);
  assert.deepEqual([d[3], d[6]].map((v) => +v.toFixed(12)), [0.3, 0.2]);
  assert.deepEqual([...argmaxChannels(avg.decide(0.04), 3, 3)], [1, 0, 1], 'under a lower threshold pixel 2 keeps its class');
  // a 2×2 image seen by one view moved by a pixel: only its top-left pixel is seen (at the view's bottom right)
  const shifted = new ViewAverage(2, 2, 2);
  shifted.add([0, 0, 0, 0, /**/ 0, 0, 0, 0.9], { mirror: false, turns: 0, shift: 1 });
  assert.deepEqual([...argmaxChannels(shifted.decide(0.5), 2, 4)], [1, 0, 0, 0]);
});
