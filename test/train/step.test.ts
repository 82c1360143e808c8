// The whole training path: the tape's gradient of GroupViT's loss against finite differences in every module,
// overfitting one batch, and bit-identical repeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, rng } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { backward, noGradAsync } from '../../src/tensor/tape.js';
import { parseConfig } from '../../src/model/config.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { groupvitLosses, type TrainBatch } from '../../src/model/losses.js';
import { param } from '../../src/nn/module.js';
import { TrainStep, groupingTermWeightAt, nounTermsAt, type StepInput } from '../../src/train/step.js';

useGpu();

const tinyConfig = () =>
  parseConfig({
    projection_dim: 16,
    projection_intermediate_dim: 32,
    logit_scale_init_value: 2.6592,
    text_config: { vocab_size: 40, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 6, bos_token_id: 38, eos_token_id: 39 },
    vision_config: {
      hidden_size: 16, intermediate_size: 32, depths: [1, 1, 1], num_group_tokens: [6, 3, 0], num_output_groups: [6, 3, 3],
      num_attention_heads: 2, image_size: 16, patch_size: 4, assign_mlp_ratio: [0.5, 2],
    },
  });

/**
 * Images that differ in colour and pattern, not just in noise: with white-noise images every pooled feature is
 * nearly the same across the batch, and training-mode BatchNorm then divides by a near-zero variance, which turns
 * float32 rounding into loss jitter far above any finite-difference step.
 */
function makeInput(b: number, k: number, seed: number, size = 16, ctx = 6): StepInput {
  const r = rng(seed);
  const pixels = new Float32Array(b * 3 * size * size);
  for (let i = 0; i < b; i++) {
    const fx = 0.2 + r() * 1.5;
    const fy = 0.2 + r() * 1.5;
    for (let c = 0; c < 3; c++) {
      const base = r() * 4 - 2;
      const amp = r() * 2;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) pixels[((i * 3 + c) * size + y) * size + x] = base + amp * Math.sin(fx * x + fy * y + c) + 0.1 * (r() - 0.5);
    }
  }
  const ids = (rows: number) => {
    const out = new Int32Array(rows * ctx);
    for (let i = 0; i < rows; i++) {
      const len = 1 + Math.floor(r() * (ctx - 2));
      out[i * ctx] = 38;
      for (let j = 1; j <= len; j++) out[i * ctx + j] = 1 + Math.floor(r() * 36);
      out[i * ctx + len + 1] = 39;
    }
    return out;
  };
  return { pixels, shape: [b, 3, size, size], captionIds: ids(b), promptIds: k ? ids(b * k) : null, promptsPerImage: k };
}

test('whole-model gradient check: the tape matches finite differences in every module (soft assignment, no noise)', async () => {
  const model = new GroupViTModel(tinyConfig(), 3);
  model.train();
  // At the 0.02-std init of a 16-wide model the image reaches the pooled features only through products of small
  // projections (relative weight ~1e-6), so training-mode BatchNorm divides by a variance made of float32 rounding.
  // Wider weights make the function well-conditioned for finite differences; the gradients checked are the same code.
  for (const [name, p] of model.namedParameters()) {
    if (p.rank >= 2 && !name.includes('embedding')) p.upload((await p.toArray()).map((v) => v * 12));
  }
  const mls = param(Tensor.fromArray([2.0], []));
  const input = makeInput(6, 2, 7);
  const grouping = { hard: false, gumbel: false };
  const lossOf = async (): Promise<number> =>
    tidyAsync(async () => {
      const batch: TrainBatch = { pixels: Tensor.fromArray(input.pixels, input.shape), captionIds: input.captionIds, promptIds: input.promptIds, promptsPerImage: 2, batch: 6 };
      return (await noGradAsync(() => groupvitLosses(model, mls, batch, grouping))).total.item();
    });
  // BatchNorm's running statistics move with every training-mode forward; they do not enter the loss, so this is fine
  await tidyAsync(async () => {
    const batch: TrainBatch = { pixels: Tensor.fromArray(input.pixels, input.shape), captionIds: input.captionIds, promptIds: input.promptIds, promptsPerImage: 2, batch: 6 };
    backward((await groupvitLosses(model, mls, batch, grouping)).total);
  });
  const named = [...model.namedParameters(), ['multi_label_logit_scale', mls] as [string, Tensor]];
  // one parameter from every module family, at the entry with the largest gradient (best signal over f32 noise)
  const families = [
    'patch_embeddings', 'position_embeddings', 'stages.0.group_token', 'stages.0.layers.0.self_attn.q_proj.weight', 'stages.0.layers.0.mlp.fc1',
    'downsample.norm_tokens', 'downsample.mlp_inter', 'pre_assign_attn.attn.k_proj', 'downsample.assign.q_proj', 'downsample.assign.v_proj',
    'downsample.mlp_channels', 'group_projector', 'vision_model.layernorm', 'token_embedding', 'position_embedding.weight',
    'text_model.encoder.layers.0.self_attn.v_proj', 'final_layer_norm', 'visual_projection.0', 'visual_projection.1.weight', 'text_projection.3',
    'logit_scale', 'multi_label_logit_scale',
  ];
  let checked = 0;
  const bad: string[] = [];
  for (const fam of families) {
    const entry = named.find(([n]) => n.includes(fam));
    assert.ok(entry, `a parameter matching ${fam}`);
    const [name, p] = entry;
    assert.ok(p.grad, `${name} has a gradient`);
    const g = await p.grad.toArray();
    let i = 0;
    for (let j = 1; j < g.length; j++) if (Math.abs(g[j]) > Math.abs(g[i])) i = j;
    const orig = await p.toArray();
    // a step that moves the loss by ~2e-3: far above float32 rounding, small against the curvature
    const eps = Math.min(1e-2, Math.max(1e-4, 2e-3 / Math.abs(g[i])));
    const at = async (d: number) => {
      const v = Float32Array.from(orig);
      v[i] += d;
      p.upload(v);
      return lossOf();
    };
    const num = ((await at(eps)) - (await at(-eps))) / (2 * eps);
    if (process.env.GV_DEBUG_FD) for (const e of [1e-2, 3e-3, 1e-3, 3e-4, 1e-4]) console.log(name, e, ((await at(e)) - (await at(-e))) / (2 * e), g[i]);
    p.upload(orig);
    const err = Math.abs(num - g[i]);
    if (!(err <= 2e-3 + 0.05 * Math.abs(num))) bad.push(`${name}[${i}]: tape ${g[i]}, finite differences ${num}`);
    assert.ok(Math.abs(g[i]) > 1e-5, `${name}: the gradient is not vanishing (${g[i]})`);
    checked++;
  }
  assert.equal(checked, families.length);
  assert.deepEqual(bad, [], bad.join('; '));
  model.release();
  mls.release();
});

async function trainRun(steps: number, seed: number): Promise<number[]> {
  const model = new GroupViTModel(tinyConfig(), seed);
  const step = new TrainStep(model, { seed, weightDecay: 0, maxNorm: 5, dropPath: 0.1 });
  const input = makeInput(8, 2, 99);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push((await step.run(input, 3e-3)).loss);
  step.release();
  model.release();
  return losses;
}

test('overfitting one batch of 8 image–caption pairs: 200 steps drive the loss below 10% of its start', async () => {
  const losses = await trainRun(200, 1);
  assert.ok(losses.every(Number.isFinite), 'finite losses');
  assert.ok(losses[199] < 0.1 * losses[0], `loss ${losses[0]} -> ${losses[199]}`);
});

test('two runs with the same seed give bit-identical losses', async () => {
  const a = await trainRun(6, 5);
  const b = await trainRun(6, 5);
  assert.deepEqual(a, b, `${a} vs ${b}`);
  const c = await trainRun(6, 6);
  assert.notDeepEqual(a, c, 'another seed differs');
});

test('smoothness weight schedule: off for start steps, then a linear ramp as long, then the full weight', () => {
  assert.deepEqual([0, 99, 100, 150, 199, 200, 5000].map((s) => groupingTermWeightAt(2, 100, s)), [0, 0, 0, 1, 1.98, 2, 2]);
  assert.deepEqual([0, 7].map((s) => groupingTermWeightAt(2, 0, s)), [2, 2]);
});

test('per-group noun terms by step: the grounded loss from its start, the other per-group terms until theirs', () => {
  const o = { groupNounGrounding: 2, groupNounGroundingStart: 600, groupNounTermsUntil: 600, multiLabelPooling: 'both' as const, groupPresence: 1 };
  assert.deepEqual(nounTermsAt(o, 0), { ground: 0, pooling: 'both', presence: 1 });
  assert.deepEqual(nounTermsAt(o, 599), { ground: 0, pooling: 'both', presence: 1 });
  assert.deepEqual(nounTermsAt(o, 600), { ground: 2, pooling: 'image', presence: 0 });
  assert.deepEqual(nounTermsAt({ ...o, multiLabelPooling: 'groups' }, 1000), { ground: 2, pooling: 'image', presence: 0 });
  // zeros: the grounded loss from the first step, the other terms never stop
  assert.deepEqual(nounTermsAt({ ...o, groupNounGroundingStart: 0, groupNounTermsUntil: 0 }, 5000), { ground: 2, pooling: 'both', presence: 1 });
  assert.deepEqual(nounTermsAt({}, 10), { ground: 0, pooling: undefined, presence: 0 });
});

test('multi-label weight: the multi-label term and its logit scale\'s gradient scale with it, the image–caption term does not', async () => {
  const model = new GroupViTModel(tinyConfig(), 5);
  model.train();
  const input = makeInput(5, 2, 11);
  const grouping = { hard: false, gumbel: false };
  const at = async (w: number) => {
    const mls = param(Tensor.fromArray([2.0], []));
    const out = await tidyAsync(async () => {
      const batch: TrainBatch = { pixels: Tensor.fromArray(input.pixels, input.shape), captionIds: input.captionIds, promptIds: input.promptIds, promptsPerImage: 2, batch: 5 };
      const l = await groupvitLosses(model, mls, batch, grouping, { multiLabelWeight: w });
      const values = await Promise.all([l.total.item(), l.contrastive.item(), l.multiLabel!.item()]);
      backward(l.total);
      return values;
    });
    const grad = (await mls.grad!.toArray())[0];
    mls.release();
    return { total: out[0], contrastive: out[1], multiLabel: out[2], grad };
  };
  const one = await at(1);
  const w = await at(2.5);
  assert.ok(one.multiLabel > 0.1, `a multi-label loss to weigh (${one.multiLabel})`);
  assert.ok(Math.abs(one.grad) > 1e-6, `the multi-label scale has a gradient (${one.grad})`);
  assert.ok(Math.abs(w.contrastive - one.contrastive) <= 1e-6 * Math.abs(one.contrastive), `contrastive ${w.contrastive} against ${one.contrastive}`);
  assert.ok(Math.abs(w.multiLabel - 2.5 * one.multiLabel) <= 1e-5 * one.multiLabel, `multi-label ${w.multiLabel} against 2.5 × ${one.multiLabel}`);
  assert.ok(Math.abs(w.total - (w.contrastive + w.multiLabel)) <= 1e-5 * w.total, `total ${w.total}`);
  assert.ok(Math.abs(w.grad - 2.5 * one.grad) <= 1e-4 * Math.abs(one.grad), `scale gradient ${w.grad} against 2.5 × ${one.grad}`);
  model.release();
});
