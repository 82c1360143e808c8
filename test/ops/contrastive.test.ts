// The fused row/column soft-target cross-entropy behind both GroupViT losses, and the whole image–text loss with its
// learnable, clamped logit scale, against float64 references at odd batch sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, assertClose, randn, numericGrad } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { backward } from '../../src/tensor/tape.js';
import { expClamp, mul } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { l2Normalize } from '../../src/ops/normalize.js';
import { diagonalTargets, multiLabelTargets, softCrossEntropy2d } from '../../src/ops/contrastive.js';

useGpu();

function ceRef(L: Float64Array, n: number, m: number, tr: ArrayLike<number>, tc: ArrayLike<number>): number {
  let rows = 0;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < m; j++) mx = Math.max(mx, L[i * m + j]);
    let s = 0;
    for (let j = 0; j < m; j++) s += Math.exp(L[i * m + j] - mx);
    const lse = mx + Math.log(s);
    for (let j = 0; j < m; j++) rows += tr[i * m + j] * (lse - L[i * m + j]);
  }
  let cols = 0;
  for (let j = 0; j < m; j++) {
    let mx = -Infinity;
    for (let i = 0; i < n; i++) mx = Math.max(mx, L[i * m + j]);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(L[i * m + j] - mx);
    const lse = mx + Math.log(s);
    for (let i = 0; i < n; i++) cols += tc[i * m + j] * (lse - L[i * m + j]);
  }
  return 0.5 * (rows / n + cols / m);
}

function normalizeRef(x: Float64Array, rows: number, d: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += x[r * d + i] ** 2;
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i] / Math.sqrt(s);
  }
  return y;
}

/** The full loss: min(exp(s),100)·normalize(I)·normalize(T)ᵀ through the fused CE. */
function lossRef(img: Float64Array, txt: Float64Array, s: number, n: number, m: number, d: number, tr: ArrayLike<number>, tc: ArrayLike<number>): number {
  const a = normalizeRef(img, n, d);
  const b = normalizeRef(txt, m, d);
  const scale = Math.min(Math.exp(s), 100);
  const L = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let acc = 0;
    for (let k = 0; k < d; k++) acc += a[i * d + k] * b[j * d + k];
    L[i * m + j] = scale * acc;
  }
  return ceRef(L, n, m, tr, tc);
}

async function checkLoss(n: number, m: number, d: number, tr: Float32Array, tc: Float32Array, s0: number, what: string) {
  const img = randn(n * d, 10 + n);
  const txt = randn(m * d, 20 + m);
  const s = Float64Array.of(s0);
  await tidyAsync(async () => {
    const I = Tensor.fromArray(img, [n, d]);
    const T = Tensor.fromArray(txt, [m, d]);
    const S = Tensor.fromArray(s, []);
    for (const t of [I, T, S]) t.requiresGrad = true;
    const logits = mul(matmul(l2Normalize(I), l2Normalize(T), { transB: true }), expClamp(S, 100));
    const loss = softCrossEntropy2d(logits, Tensor.fromArray(tr, [n, m]), Tensor.fromArray(tc, [n, m]));
    const want = lossRef(img, txt, s0, n, m, d, tr, tc);
    assertClose([await loss.item()], [want], 1e-5, 1e-5, `${what} loss`);
    backward(loss);
    const gI = numericGrad((x) => lossRef(x, txt, s0, n, m, d, tr, tc), Float64Array.from(img), 1e-5);
    const gT = numericGrad((x) => lossRef(img, x, s0, n, m, d, tr, tc), Float64Array.from(txt), 1e-5);
    const gS = numericGrad((x) => lossRef(img, txt, x[0], n, m, d, tr, tc), Float64Array.from(s), 1e-6);
    assertClose(await I.grad!.toArray(), gI, 2e-4, 2e-3, `${what} d image`);
    assertClose(await T.grad!.toArray(), gT, 2e-4, 2e-3, `${what} d text`);
    assertClose(await S.grad!.toArray(), gS, 2e-4, 2e-3, `${what} d logit scale`);
    for (const t of [I, T, S]) t.grad!.release();
  });
}

for (const b of [1, 3, 17]) {
  test(`image–text contrastive loss at batch ${b}: value and gradients to both embeddings and the logit scale`, async () => {
    const t = diagonalTargets(b);
    await checkLoss(b, b, 8, t, t, Math.log(1 / 0.07), `contrastive b=${b}`);
  });
  test(`multi-label loss at batch ${b} with 3 prompts per image (soft row targets 1/3)`, async () => {
    const { rows, cols } = multiLabelTargets(b, 3);
    await checkLoss(b, b * 3, 8, rows, cols, 1.0, `multi-label b=${b}`);
  });
}

test('owned-key targets with an image that owns no prompt and a prompt no image owns: zero row and column, exact gradients', async () => {
  const { ownedKeyTargets } = await import('../../src/ops/contrastive.js');
  // 4 images, 5 prompts: image 2 owns nothing on offer, prompt 'cross' belongs to nobody
  const owners = [['star'], ['star', 'moon'], ['heart'], ['moon', 'ring']];
  const keys = ['star', 'moon', 'ring', 'cross', 'moon'];
  const { rows, cols } = ownedKeyTargets(owners, keys);
  assert.deepEqual([...rows.slice(10, 15)], [0, 0, 0, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((i) => cols[i * 5 + 3]), [0, 0, 0, 0]);
  assert.deepEqual([...rows.slice(5, 10)], [1 / 3, 1 / 3, 0, 0, 1 / 3].map(Math.fround));
  await checkLoss(4, 5, 6, rows, cols, 1.2, 'owned keys');
});

test('same-nouns contrastive targets: captions naming the same nouns in any order share their images; no nouns, own caption only; exact gradients', async () => {
  const { sameKeysTargets } = await import('../../src/ops/contrastive.js');
  // images 0, 2 and 4 name {star, moon} (4 twice over), 1 names {star}, 3 and 5 name nothing
  const owners = [['star', 'moon'], ['star'], ['moon', 'star'], [], ['moon', 'star', 'moon'], []];
  const t = sameKeysTargets(owners);
  const third = Math.fround(1 / 3);
  assert.deepEqual([...t.slice(0, 6)], [third, 0, third, 0, third, 0]);
  assert.deepEqual([...t.slice(6, 12)], [0, 1, 0, 0, 0, 0]);
  assert.deepEqual([...t.slice(18, 24)], [0, 0, 0, 1, 0, 0]);
  assert.deepEqual([...t.slice(30, 36)], [0, 0, 0, 0, 0, 1]);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) assert.equal(t[i * 6 + j], t[j * 6 + i], `symmetric at ${i},${j}`);
  // distinct noun sets: the paper's diagonal
  assert.deepEqual([...sameKeysTargets([['star'], ['moon'], ['star', 'moon']])], [...diagonalTargets(3)]);
  await checkLoss(6, 6, 8, t, t, Math.log(1 / 0.07), 'same nouns');
});

test('the logit scale gets no gradient once exp(s) is clamped at 100', async () => {
  const t = diagonalTargets(3);
  await tidyAsync(async () => {
    const I = Tensor.fromArray(randn(12, 1), [3, 4]);
    const S = Tensor.fromArray([5], []);
    S.requiresGrad = true;
    I.requiresGrad = true;
    const logits = mul(matmul(l2Normalize(I), l2Normalize(I), { transB: true }), expClamp(S, 100));
    backward(softCrossEntropy2d(logits, Tensor.fromArray(t, [3, 3]), Tensor.fromArray(t, [3, 3])));
    assert.equal(await S.grad!.item(), 0);
    S.grad!.release();
    I.grad!.release();
  });
});

test('targets: diagonal and multi-label rows sum to one, columns sum to one', () => {
  const { rows, cols } = multiLabelTargets(4, 3);
  for (let i = 0; i < 4; i++) assertClose([rows.slice(i * 12, i * 12 + 12).reduce((a, b) => a + b, 0)], [1], 1e-6, 0, 'row');
  for (let j = 0; j < 12; j++) {
    let s = 0;
    for (let i = 0; i < 4; i++) s += cols[i * 12 + j];
    assert.equal(s, 1);
    assert.equal(cols[Math.floor(j / 3) * 12 + j], 1, 'a prompt belongs to its image');
  }
});

test('shared-key multi-label targets: identical nouns are positives across images; rows and columns sum to one', async () => {
  const { sharedKeyTargets } = await import('../../src/ops/contrastive.js');
  // image 0 owns star, ring; image 1 owns star, moon (k = 2)
  const keys = ['star', 'ring', 'star', 'moon'];
  const { rows, cols } = sharedKeyTargets(2, 2, keys);
  assert.deepEqual([...rows], [1 / 3, 1 / 3, 1 / 3, 0, 1 / 3, 0, 1 / 3, 1 / 3].map(Math.fround));
  assert.deepEqual([...cols], [0.5, 1, 0.5, 0, 0.5, 0, 0.5, 1]);
});

/** The per-group multi-label loss: each prompt scored by the image's best group, then the fused CE. */
function groupLossRef(grp: Float64Array, txt: Float64Array, s: number, b: number, g: number, m: number, d: number, tr: ArrayLike<number>, tc: ArrayLike<number>, heldOut: Int32Array | null = null): number {
  const a = normalizeRef(grp, b * g, d);
  const t = normalizeRef(txt, m, d);
  const scale = Math.min(Math.exp(s), 100);
  const L = new Float64Array(b * m).fill(-Infinity);
  for (let i = 0; i < b; i++) for (let q = 0; q < g; q++) for (let j = 0; j < m; j++) {
    if (heldOut && heldOut[i] === q) continue;
    let acc = 0;
    for (let k = 0; k < d; k++) acc += a[(i * g + q) * d + k] * t[j * d + k];
    L[i * m + j] = Math.max(L[i * m + j], scale * acc);
  }
  return ceRef(L, b, m, tr, tc);
}

test('per-group multi-label loss (a prompt scored by its best group): value and gradients, 5 images × 3 groups', async () => {
  const { promptLogits } = await import('../../src/model/losses.js');
  const [b, g, k, d] = [5, 3, 2, 8];
  const m = b * k;
  const { rows, cols } = multiLabelTargets(b, k);
  const grp = randn(b * g * d, 31);
  const txt = randn(m * d, 32);
  const s0 = 1.5;
  await tidyAsync(async () => {
    const G = Tensor.fromArray(grp, [b * g, d]);
    const T = Tensor.fromArray(txt, [m, d]);
    const S = Tensor.fromArray([s0], []);
    for (const t of [G, T, S]) t.requiresGrad = true;
    const loss = softCrossEntropy2d(promptLogits(G, g, T, S), Tensor.fromArray(rows, [b, m]), Tensor.fromArray(cols, [b, m]));
    const want = groupLossRef(grp, txt, s0, b, g, m, d, rows, cols);
    assertClose([await loss.item()], [want], 1e-5, 1e-5, 'group loss');
    backward(loss);
    const gG = numericGrad((x) => groupLossRef(x, txt, s0, b, g, m, d, rows, cols), Float64Array.from(grp), 1e-5);
    const gT = numericGrad((x) => groupLossRef(grp, x, s0, b, g, m, d, rows, cols), Float64Array.from(txt), 1e-5);
    const gS = numericGrad((x) => groupLossRef(grp, txt, x[0], b, g, m, d, rows, cols), Float64Array.of(s0), 1e-6);
    const dG = await G.grad!.toArray();
    assertClose(dG, gG, 2e-4, 2e-3, 'd groups');
    assertClose(await T.grad!.toArray(), gT, 2e-4, 2e-3, 'd prompts');
    assertClose(await S.grad!.toArray(), gS, 2e-4, 2e-3, 'd logit scale');
    // a group that wins no prompt gets no gradient: the pooling is a max, not a mean
    const won = new Set<number>();
    const a = normalizeRef(grp, b * g, d);
    const t = normalizeRef(txt, m, d);
    for (let i = 0; i < b; i++) for (let j = 0; j < m; j++) {
      let best = 0;
      let bestV = -Infinity;
      for (let q = 0; q < g; q++) {
        let acc = 0;
        for (let z = 0; z < d; z++) acc += a[(i * g + q) * d + z] * t[j * d + z];
        if (acc > bestV) [best, bestV] = [q, acc];
      }
      won.add(i * g + best);
    }
    for (let r = 0; r < b * g; r++) {
      const norm = Math.hypot(...dG.slice(r * d, r * d + d));
      if (won.has(r)) assert.ok(norm > 0, `group row ${r} won a prompt`);
      else assert.equal(norm, 0, `group row ${r} won no prompt`);
    }
    for (const x of [G, T, S]) x.grad!.release();
  });
});

test('per-group multi-label loss with one group of each image held out of the max: value, gradients, none to the held-out rows', async () => {
  const { promptLogits, heldOutPenalty } = await import('../../src/model/losses.js');
  const [b, g, k, d] = [3, 4, 2, 7];
  const m = b * k;
  const { rows, cols } = multiLabelTargets(b, k);
  const grp = randn(b * g * d, 41);
  const txt = randn(m * d, 42);
  const heldOut = Int32Array.from([2, 0, 3]);
  const pen = heldOutPenalty(heldOut, g, m);
  assert.deepEqual([0, 1, 2, 3].map((q) => pen[q * m]), [0, 0, -1e4, 0]);
  assert.equal(pen.filter((v) => v !== 0).length, b * m);
  const s0 = 1.2;
  await tidyAsync(async () => {
    const G = Tensor.fromArray(grp, [b * g, d]);
    const T = Tensor.fromArray(txt, [m, d]);
    for (const t of [G, T]) t.requiresGrad = true;
    const loss = softCrossEntropy2d(promptLogits(G, g, T, Tensor.fromArray([s0], []), heldOut), Tensor.fromArray(rows, [b, m]), Tensor.fromArray(cols, [b, m]));
    const want = groupLossRef(grp, txt, s0, b, g, m, d, rows, cols, heldOut);
    assert.ok(Math.abs(want - groupLossRef(grp, txt, s0, b, g, m, d, rows, cols)) > 1e-3, 'the held-out groups would have won some prompts');
    assertClose([await loss.item()], [want], 1e-5, 1e-5, 'held-out group loss');
    backward(loss);
    const dG = await G.grad!.toArray();
    assertClose(dG, numericGrad((x) => groupLossRef(x, txt, s0, b, g, m, d, rows, cols, heldOut), Float64Array.from(grp), 1e-5), 2e-4, 2e-3, 'd groups');
    assertClose(await T.grad!.toArray(), numericGrad((x) => groupLossRef(grp, x, s0, b, g, m, d, rows, cols, heldOut), Float64Array.from(txt), 1e-5), 2e-4, 2e-3, 'd prompts');
    heldOut.forEach((q, i) => assert.equal(Math.hypot(...dG.slice((i * g + q) * d, (i * g + q + 1) * d)), 0, `held-out row of image ${i}`));
    for (const x of [G, T]) x.grad!.release();
  });
});

/** −mean_i log Σ_{j positive} softmax(row i)_j in float64; rows without positives add 0. */
function presenceRef(L: Float64Array, n: number, m: number, pos: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < m; j++) mx = Math.max(mx, L[i * m + j]);
    let s = 0;
    let sp = 0;
    for (let j = 0; j < m; j++) {
      const e = Math.exp(L[i * m + j] - mx);
      s += e;
      if (pos[i * m + j] > 0) sp += e;
    }
    if (sp > 0) total += -Math.log(sp / s);
  }
  return total / n;
}

test('presence cross-entropy: value and gradients on [9, 5] with a row without positives, and at logits near ±100', async () => {
  const { presenceCrossEntropy } = await import('../../src/ops/contrastive.js');
  const [n, m] = [9, 5];
  const pos = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) if (i !== 4 && (i * 7 + j * 3) % 5 < 2) pos[i * m + j] = 1;
  assert.ok([0, 1, 2, 3, 5, 6, 7, 8].every((i) => pos.slice(i * m, i * m + m).some((v) => v > 0)), 'every row but row 4 has a positive');
  for (const spread of [3, 90]) {
    const x = randn(n * m, 50 + spread, spread);
    await tidyAsync(async () => {
      const L = Tensor.fromArray(x, [n, m]);
      L.requiresGrad = true;
      const loss = presenceCrossEntropy(L, Tensor.fromArray(pos, [n, m]));
      const want = presenceRef(x, n, m, pos);
      assert.ok(want > 0.1, `a loss that can fail: ${want}`);
      assertClose([await loss.item()], [want], 1e-5, 1e-5, `presence loss, spread ${spread}`);
      backward(loss);
      const g = await L.grad!.toArray();
      assertClose(g, numericGrad((v) => presenceRef(v, n, m, pos), Float64Array.from(x), 1e-5), 1e-5, 1e-3, `d logits, spread ${spread}`);
      assert.equal(Math.hypot(...g.slice(4 * m, 5 * m)), 0, 'the row without positives gets no gradient');
      L.grad!.release();
    });
  }
});

test('presence loss of the final groups: positives by hand, the held-out backdrop row has none; value and gradients', async () => {
  const { groupPresenceLoss, presencePositives } = await import('../../src/model/losses.js');
  const imageKeys = [['star', 'circle'], [], ['ring']];
  const promptKeys = ['circle', 'ring', 'star', 'circle', 'moon', 'star'];
  const [b, g, m, d] = [3, 3, 6, 7];
  const heldOut = Int32Array.from([1, -1, 0]);
  const pos = presencePositives(imageKeys, promptKeys, g, heldOut);
  const row = (i: number, q: number) => [...pos.slice((i * g + q) * m, (i * g + q + 1) * m)];
  assert.deepEqual(row(0, 0), [1, 0, 1, 1, 0, 1]);
  assert.deepEqual(row(0, 1), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(row(1, 2), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(row(2, 0), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(row(2, 2), [0, 1, 0, 0, 0, 0]);
  const grp = randn(b * g * d, 61);
  const txt = randn(m * d, 62);
  const s0 = 1.5;
  const ref = (G: Float64Array, T: Float64Array, s: number) => {
    const a = normalizeRef(G, b * g, d);
    const t = normalizeRef(T, m, d);
    const L = new Float64Array(b * g * m);
    for (let r = 0; r < b * g; r++) for (let j = 0; j < m; j++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += a[r * d + k] * t[j * d + k];
      L[r * m + j] = Math.min(Math.exp(s), 100) * acc;
    }
    return 0.5 * presenceRef(L, b * g, m, pos);
  };
  await tidyAsync(async () => {
    const G = Tensor.fromArray(grp, [b * g, d]);
    const T = Tensor.fromArray(txt, [m, d]);
    const S = Tensor.fromArray([s0], []);
    for (const t of [G, T, S]) t.requiresGrad = true;
    const loss = groupPresenceLoss(G, g, T, S, imageKeys, promptKeys, 0.5, heldOut);
    assertClose([await loss.item()], [ref(grp, txt, s0)], 1e-5, 1e-5, 'group presence loss');
    backward(loss);
    assertClose(await G.grad!.toArray(), numericGrad((x) => ref(x, txt, s0), Float64Array.from(grp), 1e-5), 2e-4, 2e-3, 'd groups');
    assertClose(await T.grad!.toArray(), numericGrad((x) => ref(grp, x, s0), Float64Array.from(txt), 1e-5), 2e-4, 2e-3, 'd prompts');
    assertClose(await S.grad!.toArray(), numericGrad((x) => ref(grp, txt, x[0]), Float64Array.of(s0), 1e-6), 2e-4, 2e-3, 'd logit scale');
    const dG = await G.grad!.toArray();
    for (const [i, q] of [[0, 1], [1, 0], [1, 1], [1, 2], [2, 0]]) assert.equal(Math.hypot(...dG.slice((i * g + q) * d, (i * g + q + 1) * d)), 0, `row (${i}, ${q}) has no positives`);
    for (const t of [G, T, S]) t.grad!.release();
  });
});

test('noun spread term: rows, noun averages and masks by hand; value and gradients against float64', async () => {
  const { nounSpreadLoss, nounSpreadConstants } = await import('../../src/model/losses.js');
  const imageKeys = [['star', 'circle'], ['ring'], ['circle', 'ring', 'moon'], []];
  const promptKeys = ['circle', 'ring', 'star', 'circle', 'moon', 'star', 'ring'];
  const [b, g, m, d] = [4, 3, 7, 6];
  const heldOut = Int32Array.from([1, 0, 2, 0]);
  const c = nounSpreadConstants(imageKeys, promptKeys, g, heldOut);
  assert.deepEqual([c.kept, c.nouns], [2, 4]); // circle, ring, star, moon
  const sel = (r: number) => [...c.select.slice(r * b * g, (r + 1) * b * g)].indexOf(1);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(sel), [0, 2, 4, 5, 6, 7, 10, 11], 'every group but the held-out one, in order');
  assert.deepEqual([...c.average.slice(0, 4)], [0.5, 0, 0, 0], "a circle prompt: half of circle's mean");
  assert.deepEqual([...c.average.slice(4 * 4, 5 * 4)], [0, 0, 0, 1], 'the one moon prompt');
  assert.deepEqual([...c.mask.slice(0, 4)], [0, -1e4, 0, -1e4], 'image 0 owns circle and star');
  assert.deepEqual([...c.counts], [1, 0, 1, 0], 'images of two nouns or more count');
  assert.throws(() => nounSpreadConstants(imageKeys, promptKeys, g, Int32Array.from([1, -1, 0, 0])), /held-out group/);
  const grp = randn(b * g * d, 71);
  const txt = randn(m * d, 72);
  const s0 = 1.2;
  const nouns = ['circle', 'ring', 'star', 'moon'];
  const ref = (G: Float64Array, T: Float64Array, s: number) => {
    const a = normalizeRef(G, b * g, d);
    const t = normalizeRef(T, m, d);
    let total = 0;
    let counted = 0;
    imageKeys.forEach((keys, i) => {
      const own = nouns.filter((n) => keys.includes(n));
      if (own.length < 2) return;
      counted++;
      const probs: number[][] = [];
      for (let q = 0; q < g; q++) {
        if (q === heldOut[i]) continue;
        const logit = own.map((n) => {
          const js = promptKeys.map((k, j) => (k === n ? j : -1)).filter((j) => j >= 0);
          return js.reduce((acc, j) => {
            let dot = 0;
            for (let k = 0; k < d; k++) dot += a[(i * g + q) * d + k] * t[j * d + k];
            return acc + Math.min(Math.exp(s), 100) * dot;
          }, 0) / js.length;
        });
        const mx = Math.max(...logit);
        const e = logit.map((v) => Math.exp(v - mx));
        const z = e.reduce((x, y) => x + y, 0);
        probs.push(e.map((v) => v / z));
      }
      const H = (p: number[]) => -p.reduce((acc, v) => acc + v * Math.log(v), 0);
      const pbar = own.map((_, n) => probs.reduce((acc, p) => acc + p[n], 0) / probs.length);
      total += -H(pbar) + probs.reduce((acc, p) => acc + H(p), 0) / probs.length;
    });
    return (0.7 * total) / counted;
  };
  await tidyAsync(async () => {
    const G = Tensor.fromArray(grp, [b * g, d]);
    const T = Tensor.fromArray(txt, [m, d]);
    const S = Tensor.fromArray([s0], []);
    for (const t of [G, T, S]) t.requiresGrad = true;
    const loss = nounSpreadLoss(G, g, T, S, imageKeys, promptKeys, 0.7, heldOut);
    assertClose([await loss.item()], [ref(grp, txt, s0)], 1e-5, 1e-5, 'noun spread');
    backward(loss);
    assertClose(await G.grad!.toArray(), numericGrad((x) => ref(x, txt, s0), Float64Array.from(grp), 1e-5), 2e-4, 2e-3, 'd groups');
    assertClose(await T.grad!.toArray(), numericGrad((x) => ref(grp, x, s0), Float64Array.from(txt), 1e-5), 2e-4, 2e-3, 'd prompts');
    assertClose(await S.grad!.toArray(), numericGrad((x) => ref(grp, txt, x[0]), Float64Array.of(s0), 1e-6), 2e-4, 2e-3, 'd logit scale');
    const dG = await G.grad!.toArray();
    for (const [i, q] of [[0, 1], [1, 0], [1, 1], [1, 2], [3, 1], [2, 2]]) assert.equal(Math.hypot(...dG.slice((i * g + q) * d, (i * g + q + 1) * d)), 0, `row (${i}, ${q}) is held out or its image counts not`);
    for (const t of [G, T, S]) t.grad!.release();
  });
});
