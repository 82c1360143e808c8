// The background rule read at any threshold from the groups alone (predictAt): equal to the argmax of the zero-shot
// pipeline's own logits, which the official fixture holds (seg.pred in the parity test), at every threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../helpers.js';
import { borderGroups, predictAt, zeroShotSegment } from '../../src/segment/zero-shot.js';

/** The first index of the largest logit at pixel p: the pipeline's prediction. */
function argmaxAt(logits: Float64Array, channels: number, pixels: number, p: number): number {
  let arg = 0;
  for (let c = 1; c < channels; c++) if (logits[c * pixels + p] > logits[arg * pixels + p]) arg = c;
  return arg;
}

test('predictAt: the argmax of zeroShotSegment\'s logits at every threshold, with and without background', () => {
  const r = rng(4);
  const softmaxColumns = (s: number, l: number) => {
    const x = Float32Array.from({ length: s * l }, () => r() * 6);
    for (let t = 0; t < l; t++) {
      let sum = 0;
      for (let g = 0; g < s; g++) sum += (x[g * l + t] = Math.exp(x[g * l + t]));
      for (let g = 0; g < s; g++) x[g * l + t] /= sum;
    }
    return x;
  };
  const seen = new Set<string>();
  for (let trial = 0; trial < 6; trial++) {
    const [s1, s2, k, p] = [5, 3, 4 + (trial % 3), 6];
    const classEmbeds = Float32Array.from({ length: k * p }, () => r() - 0.5);
    const inp = {
      softs: [softmaxColumns(s1, 16), softmaxColumns(s2, s1)],
      softShapes: [[s1, 16], [s2, s1]] as [number, number][],
      groupEmbeds: Float32Array.from({ length: s2 * p }, () => r() - 0.5),
      imageEmbed: Float32Array.from({ length: p }, () => r() - 0.5),
      classEmbeds, numClasses: k, logitScale: 3 + trial * 4, height: 12, width: 12,
    };
    const fromNull = zeroShotSegment({ ...inp, bgThresh: null });
    for (const border of [null, 1, 0.3]) {
      const backdrop = border === null ? null : borderGroups(fromNull.groupIndex, 12, 12, s2, border);
      for (const t of [null, 0.95, 0.6, 0.3, 0.1, 0]) {
        if (t === null && border !== null) continue;
        const seg = zeroShotSegment({ ...inp, bgThresh: t, bgBorder: border });
        const channels = k + (t === null ? 0 : 1);
        const want = Int32Array.from({ length: 144 }, (_, q) => argmaxAt(seg.logits, channels, 144, q));
        assert.deepEqual(seg.pred, want, `trial ${trial}, threshold ${t}, border ${border}: the pipeline's pred`);
        if (t !== null) for (const v of want) seen.add(v === 0 ? 'background' : 'class');
        assert.deepEqual(predictAt(fromNull.groupIndex, fromNull.affinity, k, t, backdrop), want, `trial ${trial}, threshold ${t}, border ${border}: read from one segmentation`);
        if (backdrop) {
          // the backdrop's pixels are background; the best of the other groups is never (threshold min(t, its score))
          seg.groupIndex.forEach((g, q) => backdrop[g] && assert.equal(want[q], 0));
          const kept = [...seg.groupIndex.keys()].filter((q) => !backdrop[seg.groupIndex[q]]);
          if (kept.length) seen.add(kept.some((q) => want[q] > 0) ? 'border keeps an object' : 'border lost all');
        }
      }
    }
  }
  assert.ok(seen.has('border keeps an object') && !seen.has('border lost all'), [...seen].join(', '));
  seen.delete('border keeps an object');
  assert.deepEqual([...seen].sort(), ['background', 'class'], 'the thresholds reach both sides of the rule');
  // ties: an all-zero group is background; equal best scores take the first class
  const aff = Float64Array.from([0, 0, 0, 0.4, 0.4, 0.2]);
  assert.deepEqual([...predictAt(Int32Array.of(0, 1), aff, 3, 0.1)], [0, 1]);
  assert.deepEqual([...predictAt(Int32Array.of(0, 1), aff, 3, null)], [0, 0]);
});

test('borderGroups: the groups holding a share of the outer ring, always the largest, never all of them', () => {
  // 5×4 map, ring of 14 pixels: group 0 holds 7 (top row, left column), group 1 holds 5, group 2 holds 2, group 3 none
  const map = Int32Array.from([
    0, 0, 0, 0,
    0, 3, 3, 1,
    0, 3, 3, 1,
    0, 3, 3, 1,
    2, 2, 1, 1,
  ]);
  assert.deepEqual(borderGroups(map, 5, 4, 4, 1), [true, false, false, false], 'share 1: the largest alone');
  assert.deepEqual(borderGroups(map, 5, 4, 4, 0.25), [true, true, false, false], '5 of 14 ≥ 0.25, 2 of 14 not');
  assert.deepEqual(borderGroups(map, 5, 4, 4, 0.1), [true, true, true, false], '2 of 14 ≥ 0.1');
  // every group on the ring: the one with the fewest ring pixels stays in the foreground
  assert.deepEqual(borderGroups(Int32Array.from([0, 0, 0, 1, 1, 0]), 2, 3, 2, 0.1), [true, false]);
  // a 1-pixel-wide map: every pixel is on the ring
  assert.deepEqual(borderGroups(Int32Array.from([1, 1, 0]), 3, 1, 2, 1), [false, true]);
  // predictAt: a backdrop group is background even when it scores best; the threshold is met among the others
  const aff = Float64Array.from([0.9, 0.1, 0.3, 0.2, 0.05, 0.02]);
  assert.deepEqual([...predictAt(Int32Array.of(0, 1, 2), aff, 2, 0.95, [true, false, false])], [0, 1, 0]);
  assert.deepEqual([...predictAt(Int32Array.of(0, 1, 2), aff, 2, 0.95, null)], [1, 0, 0]);
});
