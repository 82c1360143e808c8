// PAMR (segment/pamr.ts) against a float64 reference written from the paper's definition, tap by tap, on odd shapes;
// then what it is for: maps blurred across a colour edge come back onto the edge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pamrAffinity, pamrRefine, pamrRefineGpu, parseRefine } from '../../src/segment/pamr.js';
import { useGpu } from '../helpers.js';
import { zeroShotSegment, bilinear, upsampledGroupMap } from '../../src/segment/zero-shot.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

useGpu();

function randomImage(w: number, h: number, seed: number) {
  const rng = new Random(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => rng.int(256)) };
}

/** The reference: for pixel (y, x), the taps of each dilation d are its 3×3 neighbourhood at stride d, border replicated. */
function referenceAffinity(img: { width: number; height: number; data: ArrayLike<number> }, dilations: number[]): number[][] {
  const { width: W, height: H, data } = img;
  const at = (y: number, x: number, c: number) => data[(Math.min(H - 1, Math.max(0, y)) * W + Math.min(W - 1, Math.max(0, x))) * 3 + c];
  const out: number[][] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const std: number[] = [];
      for (let c = 0; c < 3; c++) {
        const vals: number[] = [];
        for (const d of dilations) for (let i = -1; i <= 1; i++) for (let j = -1; j <= 1; j++) vals.push(at(y + i * d, x + j * d, c));
        const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
        std.push(Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / (vals.length - 1)));
      }
      const logits: number[] = [];
      for (const d of dilations) {
        for (let i = -1; i <= 1; i++) {
          for (let j = -1; j <= 1; j++) {
            if (i === 0 && j === 0) continue;
            let a = 0;
            for (let c = 0; c < 3; c++) a += Math.abs(at(y, x, c) - at(y + i * d, x + j * d, c)) / (1e-8 + 0.1 * std[c]);
            logits.push(-a / 3);
          }
        }
      }
      const m = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - m));
      const z = e.reduce((a, v) => a + v, 0);
      out.push(e.map((v) => v / z));
    }
  }
  return out;
}

test('pamr: affinities and refinement match the float64 reference on a 7×5 image, rows summing to 1', () => {
  const img = randomImage(7, 5, 11);
  const dilations = [1, 2, 3];
  const { weights, neighbours, taps } = pamrAffinity(img, dilations);
  assert.equal(taps, 24);
  const ref = referenceAffinity(img, dilations);
  let worst = 0;
  for (let p = 0; p < 35; p++) {
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      worst = Math.max(worst, Math.abs(weights[p * taps + k] - ref[p][k]));
      sum += weights[p * taps + k];
    }
    assert.ok(Math.abs(sum - 1) < 1e-12, `row ${p} sums to ${sum}`);
  }
  assert.ok(worst < 1e-12, `affinity off by ${worst}`);
  // the refinement: two rounds of the weighted mean over the taps, the reference's neighbours found afresh
  const C = 3;
  const rng = new Random(5);
  const maps = Float64Array.from({ length: 35 * C }, () => rng.next());
  const got = pamrRefine(maps, C, img, { iterations: 2, dilations });
  let cur = Array.from(maps);
  for (let it = 0; it < 2; it++) {
    const next = new Array(cur.length).fill(0);
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 7; x++) {
        let k = 0;
        for (const d of dilations) {
          for (let i = -1; i <= 1; i++) {
            for (let j = -1; j <= 1; j++) {
              if (i === 0 && j === 0) continue;
              const q = Math.min(4, Math.max(0, y + i * d)) * 7 + Math.min(6, Math.max(0, x + j * d));
              for (let c = 0; c < C; c++) next[(y * 7 + x) * C + c] += ref[y * 7 + x][k] * cur[q * C + c];
              k++;
            }
          }
        }
      }
    }
    cur = next;
  }
  const err = Math.max(...cur.map((v, i) => Math.abs(v - got[i])));
  assert.ok(err < 1e-12, `refinement off by ${err}`);
  assert.deepEqual([neighbours[0], neighbours[4], neighbours[6]], [0, 1, 7], 'pixel (0, 0): up-left replicates to itself, then right and below');
});

test('pamr: maps blurred across a colour edge come back onto it; flat maps stay flat; zero rounds change nothing', () => {
  // 13×9, red left of x = 6, blue from it, a little noise; the maps a linear ramp from x = 2 to x = 10
  const W = 13;
  const H = 9;
  const rng = new Random(3);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set(x < 6 ? [200 + rng.int(5), 30, 30] : [30, 30, 200 + rng.int(5)], (y * W + x) * 3);
  const img = { width: W, height: H, data };
  const maps = new Float64Array(W * H * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const right = Math.min(1, Math.max(0, (x - 2) / 8));
      maps[(y * W + x) * 2] = 1 - right;
      maps[(y * W + x) * 2 + 1] = right;
    }
  }
  const before = Array.from({ length: W }, (_, x) => (maps[x * 2 + 1] > maps[x * 2] ? 1 : 0)).join('');
  assert.equal(before, '0000000111111', 'the blurred boundary sits at x = 7');
  const out = pamrRefine(maps, 2, img);
  for (let y = 0; y < H; y++) {
    const row = Array.from({ length: W }, (_, x) => (out[(y * W + x) * 2 + 1] > out[(y * W + x) * 2] ? 1 : 0)).join('');
    assert.equal(row, '0000001111111', `row ${y} follows the colour edge`);
  }
  const flat = new Float64Array(W * H * 2).fill(0.25);
  assert.ok(pamrRefine(flat, 2, img).every((v) => Math.abs(v - 0.25) < 1e-12));
  assert.deepEqual(pamrRefine(maps, 2, img, { iterations: 0, dilations: [1] }), maps);
});

test('pamr: zeroShotSegment takes refined group maps in place of the bilinear ones; bad options are one sentence', () => {
  const rng = new Random(9);
  const [H, W, G, K, P] = [16, 16, 3, 2, 4];
  const img = randomImage(W, H, 4);
  const soft = Float32Array.from({ length: G * 4 }, () => rng.next());
  const inp = {
    softs: [soft], softShapes: [[G, 4]] as [number, number][],
    groupEmbeds: Float32Array.from({ length: G * P }, () => rng.next() - 0.5), imageEmbed: Float32Array.from({ length: P }, () => rng.next()),
    classEmbeds: Float32Array.from({ length: K * P }, () => rng.next() - 0.5), numClasses: K, logitScale: 10, height: H, width: W, bgThresh: null,
  };
  const plain = zeroShotSegment(inp);
  const expect = pamrRefine(upsampledGroupMap(inp).groupMap, G, img);
  assert.deepEqual(Array.from(upsampledGroupMap(inp).groupMap), Array.from(bilinear(plain.cumulative[0], 2, 2, G, H, W)));
  assert.deepEqual(Array.from(plain.groupMap), Array.from(bilinear(plain.cumulative[0], 2, 2, G, H, W)), 'the paper: bilinear maps');
  const refined = zeroShotSegment({ ...inp, groupMap: expect });
  assert.deepEqual(Array.from(refined.groupMap), Array.from(expect));
  for (let p = 0; p < H * W; p++) {
    let best = 0;
    for (let g = 1; g < G; g++) if (expect[p * G + g] > expect[p * G + best]) best = g;
    assert.equal(refined.groupIndex[p], best);
  }
  assert.ok(refined.groupIndex.some((g, p) => g !== plain.groupIndex[p]), 'the refinement moves some pixels to another group');
  assert.deepEqual(refined.affinity, plain.affinity, 'the groups keep their names');
  assert.throws(() => zeroShotSegment({ ...inp, groupMap: expect.subarray(1) }), /a group map of 767 values for 16×16 pixels × 3 groups/);
  const one = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'));
  one(() => pamrRefine(new Float64Array(W * H), 1, img, { iterations: -1, dilations: [1] }), /iterations/);
  one(() => pamrRefine(new Float64Array(W * H), 1, img, { iterations: 2, dilations: [] }), /dilations/);
  one(() => pamrRefine(new Float64Array(W * H), 1, img, { iterations: 2, dilations: [1.5] }), /dilations/);
  one(() => parseRefine('crf'), /--refine must be one of none, pamr/);
  assert.equal(parseRefine('pamr'), 'pamr');
  assert.equal(parseRefine(undefined), undefined);
});

test('pamr on the GPU: a batch of two 13×9 images (one with flat patches) matches the float64 reference', async () => {
  const [W, H, C] = [13, 9, 5];
  const flatty = randomImage(W, H, 21);
  for (let q = 0; q < 40; q++) flatty.data.set([90, 90, 90], q * 3); // three flat rows: near-zero spread, steep weights
  const images = [randomImage(W, H, 20), flatty];
  const rng = new Random(8);
  const maps = Float64Array.from({ length: 2 * W * H * C }, () => rng.next());
  for (const opts of [{ iterations: 3, dilations: [1, 2, 5] }, { iterations: 10, dilations: [1, 2, 4, 8, 12, 24] }]) {
    const got = await pamrRefineGpu(maps, C, images, opts);
    let worst = 0;
    images.forEach((img, b) => {
      const ref = pamrRefine(maps.subarray(b * W * H * C, (b + 1) * W * H * C), C, img, opts);
      ref.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[b * W * H * C + i]))));
    });
    assert.ok(worst < 2e-5, `${JSON.stringify(opts)}: off by ${worst}`);
  }
  assert.deepEqual(await pamrRefineGpu(maps, C, images, { iterations: 0, dilations: [1] }), Float32Array.from(maps));
  await assert.rejects(pamrRefineGpu(maps, C, images, { iterations: 2, dilations: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), (e: unknown) => e instanceof UserError && /at most 8 dilations/.test(e.message));
});
