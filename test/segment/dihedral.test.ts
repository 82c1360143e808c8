// The views of test-time augmentation against hand-drawn ones: a mirror and quarter turns of a 2×3 map, a bijection
// for every view of an odd, non-square map, scores mapped back onto the pixels they came from, and the argmax's ties.
// No GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmaxChannels, parseAugment, symmetries, viewImage, viewIndex, viewSize } from '../../src/segment/dihedral.js';
import { ViewAverage } from '../../src/segment/views.js';
import { newImage } from '../../src/io/image.js';
import { UserError } from '../../src/util/errors.js';

// a 2×3 map with values 1..6 seen through s, as rows (the view's pixel q holds the value of the map's pixel p with viewIndex[p] = q)
function seen(s: { mirror: boolean; turns: 0 | 1 | 2 | 3 }): number[][] {
  const [h, w] = [2, 3];
  const [vh, vw] = viewSize(s, h, w);
  const flat = new Array<number>(vh * vw).fill(0);
  viewIndex(s, h, w).forEach((q, p) => (flat[q] = p + 1));
  return Array.from({ length: vh }, (_, y) => flat.slice(y * vw, (y + 1) * vw));
}

test('views of a 2×3 map: mirror, clockwise quarter turns, and both', () => {
  // the map:  1 2 3
  //           4 5 6
  assert.deepEqual(seen({ mirror: false, turns: 0 }), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(seen({ mirror: true, turns: 0 }), [[3, 2, 1], [6, 5, 4]]);
  assert.deepEqual(seen({ mirror: false, turns: 1 }), [[4, 1], [5, 2], [6, 3]]);
  assert.deepEqual(seen({ mirror: false, turns: 2 }), [[6, 5, 4], [3, 2, 1]]);
  assert.deepEqual(seen({ mirror: false, turns: 3 }), [[3, 6], [2, 5], [1, 4]]);
  assert.deepEqual(seen({ mirror: true, turns: 1 }), [[6, 3], [5, 2], [4, 1]]);
});

test('symmetries: one view, the image and its mirror, or eight distinct views that each permute the pixels', () => {
  assert.deepEqual(symmetries('none'), [{ mirror: false, turns: 0 }]);
  assert.deepEqual(symmetries('flip'), [{ mirror: false, turns: 0 }, { mirror: true, turns: 0 }]);
  const all = symmetries('dihedral');
  assert.equal(all.length, 8);
  const [h, w] = [5, 7];
  const views = all.map((s) => viewIndex(s, h, w).join(','));
  assert.equal(new Set(views).size, 8, 'eight different views');
  for (const s of all) {
    const index = viewIndex(s, h, w);
    assert.deepEqual([...index].sort((a, b) => a - b), [...Array(h * w).keys()], `${JSON.stringify(s)} is a permutation`);
  }
});

test('viewImage moves each pixel with its three channels; ViewAverage maps a view back onto the image', () => {
  const [h, w] = [3, 4];
  const img = newImage(w, h);
  for (let p = 0; p < h * w; p++) img.data.set([p, 100 + p, 200 + p], p * 3);
  for (const s of symmetries('dihedral')) {
    const v = viewImage(img, s);
    assert.deepEqual([v.height, v.width], viewSize(s, h, w));
    // a score map of the view made from its pixels (no backdrop; class 1: red, class 2: blue) comes back in place
    const n = h * w;
    const scores = new Float64Array(3 * n);
    for (let q = 0; q < n; q++) [scores[n + q], scores[2 * n + q]] = [v.data[q * 3], v.data[q * 3 + 2]];
    const avg = new ViewAverage(3, h, w);
    avg.add(scores, { ...s, shift: 0 });
    const back = avg.decide(0);
    for (let p = 0; p < n; p++) {
      assert.equal(back[n + p], p, `${JSON.stringify(s)}: class 1 at pixel ${p}`);
      assert.equal(back[2 * n + p], 200 + p, `${JSON.stringify(s)}: class 2 at pixel ${p}`);
    }
  }
});

test('argmaxChannels takes the highest channel, the first on ties; parseAugment refuses other names', () => {
  // 3 channels × 4 pixels
  const scores = [0.5, 0, 0.2, 0.3, 0.5, 0.9, 0.1, 0.3, 0.1, 0.9, 0.7, 0.1];
  assert.deepEqual([...argmaxChannels(scores, 3, 4)], [0, 1, 2, 0]);
  assert.equal(parseAugment(undefined), 'none');
  assert.equal(parseAugment('dihedral'), 'dihedral');
  assert.throws(() => parseAugment('rotate'), (e: unknown) => e instanceof UserError && /none, flip, dihedral/.test((e as Error).message));
});
