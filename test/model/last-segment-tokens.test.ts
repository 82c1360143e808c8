// vision_config.last_segment_tokens 'tokens' (not the official model): the last grouping block's segment tokens are
// the assigned tokens' mean alone, without the group token that attended over the whole image; and a last stage
// with no layers. Checked against the block's own pieces on an odd shape, and through the config parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, randn, useGpu } from '../helpers.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGrad, noGradAsync } from '../../src/tensor/tape.js';
import { add } from '../../src/ops/elementwise.js';
import { parseConfig } from '../../src/model/config.js';
import { GroupingBlock } from '../../src/model/grouping.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { UserError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

useGpu();

const raw = (vision: Record<string, unknown> = {}) => ({
  projection_dim: 16,
  projection_intermediate_dim: 32,
  text_config: { vocab_size: 40, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 6, bos_token_id: 38, eos_token_id: 39 },
  vision_config: {
    hidden_size: 16, intermediate_size: 24, depths: [1, 1, 1], num_group_tokens: [5, 3, 0], num_output_groups: [5, 3],
    num_attention_heads: 2, image_size: 24, patch_size: 8, assign_mlp_ratio: [0.5, 2], ...vision,
  },
});

test('last_segment_tokens: the block adds the group token (official) or keeps the assigned mean alone, same assignment', async () => {
  const cfg = parseConfig(raw()).vision_config;
  const [b, l, s, c] = [2, 7, 5, 16];
  const x = randn(b * l * c, 3);
  const groups = randn(b * s * c, 4);
  const run = (adds: boolean) =>
    tidyAsync(async () => {
      const block = new GroupingBlock(cfg, s, 3, new Rng(11), adds);
      const trace = new Map<string, Tensor>();
      const out = noGrad(() => block.forward(Tensor.fromArray(x, [b, l, c]), Tensor.fromArray(groups, [b, s, c]), { hard: true, gumbel: false }, trace, 'p').x);
      const aOut = trace.get('p.assign.out')!;
      const pg = trace.get('p.grouping.pre_assign_out')!;
      // the block's own tail F(m) = m + mlp(norm(m)), on the mean alone and on the mean plus the group token
      const tail = (m: Tensor) => add(m, block.mlp_channels.forward(block.norm_new_x.forward(m)));
      const expectTokens = noGrad(() => tail(aOut));
      const expectBoth = noGrad(() => tail(add(aOut, pg)));
      return {
        out: await out.toArray(), hard: await trace.get('p.assign.hard')!.toArray(),
        tokens: await expectTokens.toArray(), both: await expectBoth.toArray(),
      };
    });
  const official = await run(true);
  const own = await run(false);
  assert.deepEqual(Array.from(own.hard), Array.from(official.hard));
  assertClose(official.out, official.both, 1e-5);
  assertClose(own.out, own.tokens, 1e-5);
  // and the two differ by the group token's contribution, which is not small
  let diff = 0;
  for (let i = 0; i < own.out.length; i++) diff = Math.max(diff, Math.abs(own.out[i] - official.out[i]));
  assert.ok(diff > 0.05, `the modes differ by ${diff}`);
});

test('last_segment_tokens: only the last grouping stage changes, and a last stage of no layers builds and runs', async () => {
  const m = new GroupViTModel(parseConfig(raw({ last_segment_tokens: 'tokens', depths: [1, 1, 0] })));
  try {
    const stages = m.vision_model.encoder.stages;
    assert.deepEqual(stages.map((st) => st.downsample?.addsGroupToken ?? null), [true, false, null]);
    assert.equal(stages[2].layers.length, 0);
    m.eval();
    await m.prepareInference();
    const pooled = await tidyAsync(async () => (await noGradAsync(() => m.encodeImage(Tensor.fromArray(randn(2 * 3 * 24 * 24, 5), [2, 3, 24, 24])))).embedsUnnorm.toArray());
    assert.equal(pooled.length, 2 * 16);
    assert.ok(pooled.every(Number.isFinite));
  } finally {
    m.release();
  }
  const official = new GroupViTModel(parseConfig(raw()));
  try {
    assert.deepEqual(official.vision_model.encoder.stages.map((st) => st.downsample?.addsGroupToken ?? null), [true, true, null]);
  } finally {
    official.release();
  }
});

test('last_segment_tokens and a layerless stage: the config parser takes them where they mean something', () => {
  assert.equal(parseConfig(raw({ last_segment_tokens: 'tokens' })).vision_config.last_segment_tokens, 'tokens');
  assert.equal(parseConfig(raw()).vision_config.last_segment_tokens, undefined);
  assert.throws(() => parseConfig(raw({ last_segment_tokens: 'groups' })), (e: Error) => e instanceof UserError && /last_segment_tokens must be "tokens_and_group" or "tokens"/.test(e.message));
  assert.throws(() => parseConfig(raw({ depths: [1, 0, 1] })), (e: Error) => e instanceof UserError && /depths must list positive integers \(the last may be 0\)/.test(e.message));
  assert.deepEqual(parseConfig(raw({ depths: [1, 1, 0] })).vision_config.depths, [1, 1, 0]);
});
