import { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/linear.js';
import { LayerNorm } from '../nn/layernorm.js';
import { Mlp, MixerMlp } from '../nn/mlp.js';
import { MultiHeadAttention } from '../nn/attention.js';
import { add, scale } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { assign } from '../ops/grouping.js';
import { Rng } from '../util/rng.js';
import type { VisionConfig } from './config.js';
import { traceSet, type Trace } from './trace.js';

export interface GroupingOptions {
  /** Hard one-hot assignment (GroupViT) or soft (the paper's ablation). */
  hard: boolean;
  /** Gumbel noise in the assignment (training). */
  gumbel: boolean;
  seed?: number;
  step?: number;
  stage?: number;
  tau?: number;
}

// Post-norm cross-attention block: q = groups, k = v = tokens.  pg += attn(pg, x); pg += mlp(norm2(pg)); pg = norm_post(pg)
export class CrossAttentionLayer extends Module {
  attn: MultiHeadAttention;
  norm2: LayerNorm;
  mlp: Mlp;
  norm_post: LayerNorm;

  constructor(cfg: VisionConfig, rng: Rng) {
    super();
    const c = cfg.hidden_size;
    this.attn = new MultiHeadAttention(c, cfg.num_attention_heads, rng);
    this.norm2 = new LayerNorm(c, cfg.layer_norm_eps);
    this.mlp = new Mlp(c, Math.round(c * cfg.assign_mlp_ratio[1]), c, cfg.hidden_act, rng);
    this.norm_post = new LayerNorm(c, cfg.layer_norm_eps);
  }

  forward(query: Tensor, context: Tensor): Tensor {
    const h = add(query, this.attn.forward(query, context));
    return this.norm_post.forward(add(h, this.mlp.forward(this.norm2.forward(h))));
  }
}

// Single-head assignment of tokens to groups: raw = q(g)·k(x)ᵀ·C^-½ over the GROUP axis, out = proj(A·v(x))
export class AssignAttention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  proj: Linear;

  constructor(readonly dim: number, readonly eps: number, rng: Rng) {
    super();
    this.q_proj = new Linear(dim, dim, rng);
    this.k_proj = new Linear(dim, dim, rng);
    this.v_proj = new Linear(dim, dim, rng);
    this.proj = new Linear(dim, dim, rng);
  }

  /** Scales q_proj and k_proj (weights and biases) by gain, so the assignment logits start gain² larger. */
  async scaleInit(gain: number): Promise<void> {
    for (const t of [this.q_proj.weight, this.q_proj.bias, this.k_proj.weight, this.k_proj.bias]) {
      if (t) t.upload((await t.toArray()).map((v) => v * gain));
    }
  }

  forward(groups: Tensor, x: Tensor, o: GroupingOptions) {
    const q = this.q_proj.forward(groups); // [B, S, C]
    const k = this.k_proj.forward(x); // [B, L, C]
    const v = this.v_proj.forward(x);
    const raw = scale(matmul(q, k, { transB: true }), this.dim ** -0.5); // [B, S, L]
    const a = assign(raw, {
      hard: o.hard, gumbel: o.gumbel, seed: o.seed, step: ((o.step ?? 0) * 8 + (o.stage ?? 0)) >>> 0, tau: o.tau, eps: this.eps,
    });
    return { out: this.proj.forward(matmul(a.attn, v)), soft: a.soft, hard: a.hardMap, logits: raw };
  }
}

// The grouping block of §1.3: tokens [B, L, C] and group tokens [B, S1, C] -> S2 new segment tokens [B, S2, C]
export class GroupingBlock extends Module {
  norm_tokens: LayerNorm;
  mlp_inter: MixerMlp;
  norm_post_tokens: LayerNorm;
  norm_x: LayerNorm;
  pre_assign_attn: CrossAttentionLayer;
  assign: AssignAttention;
  norm_new_x: LayerNorm;
  mlp_channels: Mlp;

  /** Whether the new segment tokens add the group token to the assigned tokens' mean (config last_segment_tokens). */
  addsGroupToken: boolean;

  constructor(cfg: VisionConfig, groupsIn: number, groupsOut: number, rng: Rng, addsGroupToken = true) {
    super();
    this.addsGroupToken = addsGroupToken;
    const c = cfg.hidden_size;
    const eps = cfg.layer_norm_eps;
    this.norm_tokens = new LayerNorm(c, eps);
    this.mlp_inter = new MixerMlp(groupsIn, Math.round(c * cfg.assign_mlp_ratio[0]), groupsOut, cfg.hidden_act, rng);
    this.norm_post_tokens = new LayerNorm(c, eps);
    this.norm_x = new LayerNorm(c, eps);
    this.pre_assign_attn = new CrossAttentionLayer(cfg, rng);
    this.assign = new AssignAttention(c, cfg.assign_eps, rng);
    this.norm_new_x = new LayerNorm(c, eps);
    this.mlp_channels = new Mlp(c, Math.round(c * cfg.assign_mlp_ratio[1]), c, cfg.hidden_act, rng);
  }

  forward(x: Tensor, groups: Tensor, o: GroupingOptions, trace?: Trace, pre = 'vision.stage') {
    const g = this.norm_tokens.forward(groups);
    const xn = this.norm_x.forward(x);
    const projected = this.norm_post_tokens.forward(this.mlp_inter.forward(g));
    traceSet(trace, `${pre}.grouping.projected_group_tokens`, projected);
    const pg = this.pre_assign_attn.forward(projected, xn);
    traceSet(trace, `${pre}.grouping.pre_assign_out`, pg);
    const a = this.assign.forward(pg, xn, o);
    traceSet(trace, `${pre}.assign.soft`, a.soft);
    traceSet(trace, `${pre}.assign.hard`, a.hard);
    traceSet(trace, `${pre}.assign.out`, a.out);
    const merged = this.addsGroupToken ? add(a.out, pg) : a.out;
    const out = add(merged, this.mlp_channels.forward(this.norm_new_x.forward(merged)));
    traceSet(trace, `${pre}.grouping.out`, out);
    return { x: out, assignment: { soft: a.soft, hard: a.hard, logits: a.logits } };
  }
}
