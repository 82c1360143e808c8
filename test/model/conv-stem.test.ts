// The convolutional stem (vision_config.patch_embed 'conv' or 'conv3', a deviation from the official model): its values and
// gradients against a float64 reference, the token grid at other image sizes, checkpoint names, and the config and
// weights round trip through a saved model folder.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertClose, numericGrad, randn, useGpu, weightedSum } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { backward, noGradAsync } from '../../src/tensor/tape.js';
import { mul } from '../../src/ops/elementwise.js';
import { sumAll } from '../../src/ops/reduce.js';
import { parseConfig, readConfig } from '../../src/model/config.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { loadWeights } from '../../src/model/load.js';
import { ConvStem } from '../../src/model/vision.js';
import { writeModelFiles } from '../../src/train/checkpoint.js';
import { UserError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

useGpu();

const made: string[] = [];
after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

const STEM = 'vision_model.embeddings.patch_embeddings.stem';

const rawConfig = (vision: Record<string, unknown> = {}) => ({
  projection_dim: 16,
  projection_intermediate_dim: 32,
  text_config: { vocab_size: 40, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 6, bos_token_id: 38, eos_token_id: 39 },
  vision_config: {
    hidden_size: 16, intermediate_size: 32, depths: [1, 1], num_group_tokens: [4, 0], num_output_groups: [2],
    num_attention_heads: 2, image_size: 32, patch_size: 8, assign_mlp_ratio: [0.5, 2], patch_embed: 'conv', ...vision,
  },
});

interface StemWeights {
  conv: Float64Array;
  convBias: Float64Array;
  merges: { weight: Float64Array; bias: Float64Array }[];
}

/**
 * Float64 stem on the pixels of the whole patches: 3×3 stride-2 conv (padding 1) + ReLU, then per merge 2×2
 * neighbours in (c, dy, dx) order through a Linear, ReLU between merges.   -> tokens [B, gh·gw, C] row-major
 */
function stemRef(px: Float64Array, [b, ch, h, w]: number[], p: number, wt: StemWeights, c1: number, dim: number, overlap = false): Float64Array {
  const eh = Math.floor(h / p) * p;
  const ew = Math.floor(w / p) * p;
  let gh = eh / 2;
  let gw = ew / 2;
  let c = c1;
  let x = new Float64Array(b * gh * gw * c1);
  for (let n = 0; n < b; n++)
    for (let ty = 0; ty < gh; ty++)
      for (let tx = 0; tx < gw; tx++)
        for (let o = 0; o < c1; o++) {
          let s = wt.convBias[o];
          for (let ci = 0; ci < ch; ci++)
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const y = 2 * ty + ky - 1;
                const xx = 2 * tx + kx - 1;
                if (y >= 0 && y < eh && xx >= 0 && xx < ew) s += wt.conv[((o * ch + ci) * 3 + ky) * 3 + kx] * px[((n * ch + ci) * h + y) * w + xx];
              }
          x[((n * gh + ty) * gw + tx) * c1 + o] = Math.max(s, 0);
        }
  wt.merges.forEach((m, i) => {
    const oh = gh / 2;
    const ow = gw / 2;
    const y = new Float64Array(b * oh * ow * dim);
    for (let n = 0; n < b; n++)
      for (let ty = 0; ty < oh; ty++)
        for (let tx = 0; tx < ow; tx++)
          for (let o = 0; o < dim; o++) {
            let s = m.bias[o];
            // overlap: a 3×3 stride-2 window with padding 1, weight in (ky, kx, c) order; else the 2×2 block in (c, dy, dx)
            const k = overlap ? 3 : 2;
            const off = overlap ? -1 : 0;
            for (let ci = 0; ci < c; ci++)
              for (let dy = 0; dy < k; dy++)
                for (let dx = 0; dx < k; dx++) {
                  const [yy, xx] = [2 * ty + dy + off, 2 * tx + dx + off];
                  const at = overlap ? o * 9 * c + (dy * 3 + dx) * c + ci : o * 4 * c + (ci * 2 + dy) * 2 + dx;
                  if (yy >= 0 && yy < gh && xx >= 0 && xx < gw) s += m.weight[at] * x[((n * gh + yy) * gw + xx) * c + ci];
                }
            y[((n * oh + ty) * ow + tx) * dim + o] = i < wt.merges.length - 1 ? Math.max(s, 0) : s;
          }
    x = y;
    gh = oh;
    gw = ow;
    c = dim;
  });
  return x;
}

for (const overlap of [false, true]) test(`the stem${overlap ? " with overlapping 3x3 layers ('conv3')" : ''} of patch 8 at 27x43 pixels: 3x5 tokens whose values and parameter gradients match the float64 reference`, async () => {
  const [b, ch, h, w, p, dim] = [2, 3, 27, 43, 8, 16];
  const stem = new ConvStem(ch, p, dim, new Rng(4), overlap);
  const named = stem.namedParameters();
  const f = overlap ? 9 : 4;
  assert.deepEqual(
    named.map(([n, t]) => `${n} [${t.shape}]`),
    ['conv.weight [8,3,3,3]', 'conv.bias [8]', `merges.0.weight [16,${8 * f}]`, 'merges.0.bias [16]', `merges.1.weight [16,${16 * f}]`, 'merges.1.bias [16]'],
  );
  // non-zero biases, so a bias that never arrives would show
  for (const [n, t] of named) if (n.endsWith('bias')) t.upload(Float32Array.from(randn(t.size, t.size, 0.1)));
  const host = await Promise.all(named.map(async ([, t]) => Float64Array.from(await t.toArray())));
  const weightsOf = (xs: Float64Array[]): StemWeights => ({
    conv: xs[0], convBias: xs[1], merges: [{ weight: xs[2], bias: xs[3] }, { weight: xs[4], bias: xs[5] }],
  });
  const px = Float64Array.from(Float32Array.from(randn(b * ch * h * w, 11)));
  const want = stemRef(px, [b, ch, h, w], p, weightsOf(host), 8, dim, overlap);
  const lossW = randn(want.length, 12);
  await tidyAsync(async () => {
    const r = stem.forward(Tensor.fromArray(px, [b, ch, h, w]));
    assert.deepEqual([r.gh, r.gw], [3, 5]);
    assert.deepEqual(r.x.shape, [b, 15, dim]);
    assertClose(await r.x.toArray(), want, 1e-5, 1e-4, 'stem forward');
    backward(sumAll(mul(r.x, Tensor.fromArray(lossW, r.x.shape))));
  });
  for (let k = 0; k < named.length; k++) {
    const [name, t] = named[k];
    const idx = [...new Set([...Array(12).keys()].map((i) => Math.floor((i * t.size) / 12)))];
    // a small step: among a thousand ReLU inputs some lie within 1e-4 of their kink; float64 keeps 1e-6 exact enough
    const num = numericGrad((v) => weightedSum(stemRef(px, [b, ch, h, w], p, weightsOf(host.map((x, j) => (j === k ? v : x))), 8, dim, overlap), lossW), host[k], 1e-6, idx);
    assert.ok(t.grad, `${name} has a gradient`);
    const got = await t.grad.toArray();
    assertClose(idx.map((i) => got[i]), idx.map((i) => num[i]), 2e-3, 2e-3, `${name} gradient`);
    assert.ok(idx.some((i) => Math.abs(num[i]) > 1e-2), `${name}: a gradient worth checking`);
  }
  stem.release();
});

test('a conv-stem GroupViT: other image sizes, gradients into stem.conv.weight, save and reload, config round trip', async () => {
  const cfg = parseConfig(rawConfig());
  const model = new GroupViTModel(cfg, 3);
  await model.prepareInference();
  const names = model.namedParameters().map(([n, t]) => `${n} [${t.shape}]`);
  assert.deepEqual(
    names.filter((n) => n.includes('patch_embeddings')),
    [`${STEM}.conv.weight [8,3,3,3]`, `${STEM}.conv.bias [8]`, `${STEM}.merges.0.weight [16,32]`, `${STEM}.merges.0.bias [16]`, `${STEM}.merges.1.weight [16,64]`, `${STEM}.merges.1.bias [16]`],
  );
  const train = Float32Array.from(randn(2 * 3 * 32 * 32, 21));
  const odd = Float32Array.from(randn(2 * 3 * 27 * 43, 22));
  // the top-left 24x40 of the odd image: the pixels of its whole patches
  const crop = new Float32Array(2 * 3 * 24 * 40);
  for (let i = 0; i < 2 * 3; i++) for (let y = 0; y < 24; y++) crop.set(odd.subarray((i * 27 + y) * 43, (i * 27 + y) * 43 + 40), (i * 24 + y) * 40);
  const embed = (m: GroupViTModel, pixels: Float32Array, h: number, w: number) =>
    noGradAsync(() =>
      tidyAsync(async () => {
        const f = await m.encodeImage(Tensor.fromArray(pixels, [2, 3, h, w]));
        return { grid: f.grid, embeds: await f.embedsUnnorm.toArray(), groups: await f.groupEmbedsUnnorm.toArray() };
      }),
    );
  const atTrain = await embed(model, train, 32, 32);
  assert.deepEqual(atTrain.grid, [4, 4]);
  assert.equal(atTrain.embeds.length, 2 * 16);
  assert.ok(atTrain.embeds.every(Number.isFinite));
  const atOdd = await embed(model, odd, 27, 43);
  assert.deepEqual(atOdd.grid, [3, 5]);
  assert.ok(atOdd.embeds.every(Number.isFinite));
  // the remainder past the whole patches is dropped before the convolution, as the linear embedding drops it
  const atCrop = await embed(model, crop, 24, 40);
  assert.deepEqual([...atOdd.embeds], [...atCrop.embeds]);
  assert.notDeepEqual([...atOdd.embeds], [...atTrain.embeds]);

  // one backward from the image embedding reaches the first convolution
  const convWeight = model.namedParameters().find(([n]) => n === `${STEM}.conv.weight`)![1];
  await tidyAsync(async () => {
    const f = await model.encodeImage(Tensor.fromArray(train, [2, 3, 32, 32]));
    backward(sumAll(mul(f.embedsUnnorm, Tensor.fromArray(randn(2 * 16, 23), [2, 16]))));
  });
  assert.ok(convWeight.grad, 'stem.conv.weight has a gradient');
  const g = await convWeight.grad.toArray();
  assert.ok(g.every(Number.isFinite) && g.some((v) => Math.abs(v) > 1e-6), `a non-zero gradient (max ${Math.max(...g.map(Math.abs))})`);
  for (const [, t] of model.namedParameters()) {
    t.grad?.release();
    t.grad = null;
  }

  // save, then load into a model initialised from another seed: the same embeddings, and 'conv' in config.json
  const dir = mkdtempSync(join(tmpdir(), 'gv-conv-stem-'));
  made.push(dir);
  await writeModelFiles(dir, model);
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(raw.vision_config.patch_embed, 'conv');
  const reloaded = new GroupViTModel(readConfig(join(dir, 'config.json')), 99);
  assert.equal(reloaded.config.vision_config.patch_embed, 'conv');
  await reloaded.prepareInference();
  assert.notDeepEqual([...(await embed(reloaded, train, 32, 32)).embeds], [...atTrain.embeds], 'another seed differs before loading');
  await loadWeights(reloaded, dir);
  await reloaded.prepareInference();
  for (const [pixels, h, w, want] of [
    [train, 32, 32, atTrain],
    [odd, 27, 43, atOdd],
  ] as const) {
    const got = await embed(reloaded, pixels, h, w);
    assert.deepEqual([...got.embeds], [...want.embeds], `reloaded embeddings at ${h}x${w}`);
    assert.deepEqual([...got.groups], [...want.groups], `reloaded group embeddings at ${h}x${w}`);
  }
  model.release();
  reloaded.release();
});

test('patch_embed: absent stays absent (the official configs are written back unchanged); bad values are one sentence', () => {
  const linear = parseConfig({});
  assert.equal('patch_embed' in linear.vision_config, false);
  assert.equal(JSON.stringify(linear).includes('patch_embed'), false);
  assert.equal(parseConfig({ vision_config: { patch_embed: 'linear' } }).vision_config.patch_embed, 'linear');
  const linearModel = new GroupViTModel(parseConfig(rawConfig({ patch_embed: undefined })), 1);
  const names = linearModel.namedParameters().map(([n]) => n);
  linearModel.release();
  assert.deepEqual(
    names.filter((n) => n.includes('patch_embeddings')),
    ['vision_model.embeddings.patch_embeddings.projection.weight', 'vision_model.embeddings.patch_embeddings.projection.bias'],
  );
  const fails = (vision: Record<string, unknown>, message: RegExp) =>
    assert.throws(() => parseConfig(rawConfig(vision), 'cfg.json'), (e: Error) => e instanceof UserError && message.test(e.message));
  fails({ patch_embed: 'cnn' }, /^cfg\.json: vision_config\.patch_embed must be "linear" or "conv" or "conv3", not "cnn"\.$/);
  fails({ patch_embed: 'conv3', hidden_size: 20, num_attention_heads: 2 }, /hidden_size must be a multiple of 8, not 20\.$/);
  fails({ patch_embed: 'conv3', patch_size: 12, image_size: 36 }, /patch_embed "conv3" halves the grid per layer, so patch_size must be a power of two of at least 4, not 12\.$/);
  fails({ patch_size: 12, image_size: 36 }, /patch_size must be a power of two of at least 4, not 12\.$/);
  fails({ patch_size: 2 }, /patch_size must be a power of two of at least 4, not 2\.$/);
  fails({ hidden_size: 15, num_attention_heads: 3 }, /hidden_size must be even, not 15\.$/);
  assert.doesNotThrow(() => parseConfig(rawConfig({ patch_embed: 'linear', patch_size: 12 })));
});
