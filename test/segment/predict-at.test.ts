// The background rule read at any threshold from the groups alone (predictAt): equal to the argmax of the zero-shot
// pipeline's own logits, which the official fixture holds (seg.pred in the parity test), at every threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../helpers.js';
import { predictAt, zeroShotSegment } from '../../src/segment/zero-shot.js';

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
    for (const t of [null, 0.95, 0.6, 0.3, 0.1, 0]) {
      const seg = zeroShotSegment({ ...inp, bgThresh: t });
      const channels = k + (t === null ? 0 : 1);
      const want = Int32Array.from({ length: 144 }, (_, q) => argmaxAt(seg.logits, channels, 144, q));
      assert.deepEqual(seg.pred, want, `trial ${trial}, threshold ${t}: the pipeline's pred`);
      if (t !== null) for (const v of want) seen.add(v === 0 ? 'background' : 'class');
      const fromNull = zeroShotSegment({ ...inp, bgThresh: null });
      assert.deepEqual(predictAt(fromNull.groupIndex, fromNull.affinity, k, t), want, `trial ${trial}, threshold ${t}: read from one segmentation`);
    }
  }
  assert.deepEqual([...seen].sort(), ['background', 'class'], 'the thresholds reach both sides of the rule');
  // ties: an all-zero group is background; equal best scores take the first class
  const aff = Float64Array.from([0, 0, 0, 0.4, 0.4, 0.2]);
  assert.deepEqual([...predictAt(Int32Array.of(0, 1), aff, 3, 0.1)], [0, 1]);
  assert.deepEqual([...predictAt(Int32Array.of(0, 1), aff, 3, null)], [0, 0]);
});
