import { Tensor } from '../tensor/tensor.js';
import { Module, param } from '../nn/module.js';
import { LayerNorm } from '../nn/layernorm.js';
import { Linear } from '../nn/linear.js';
import { Mlp, MixerMlp } from '../nn/mlp.js';
import { MultiHeadAttention } from '../nn/attention.js';
import { truncNormal } from '../nn/init.js';
import { add, fill, scaleRows } from '../ops/elementwise.js';
import { concat, slice } from '../ops/shape.js';
import { im2col, patchify, spaceToDepth, tokenWindows } from '../ops/patch.js';
import { relu } from '../ops/activation.js';
import { matmul } from '../ops/matmul.js';
import { mean } from '../ops/reduce.js';
import { Rng } from '../util/rng.js';
import type { PatchEmbedKind, VisionConfig } from './config.js';
import { GroupingBlock, type GroupingOptions } from './grouping.js';
import { resizePosEmbed } from './pos-embed.js';
import { traceSet, type Trace } from './trace.js';

/** Seeds of one training step: drop-path masks and Gumbel noise are functions of (seed, step, site). */
export interface StepNoise {
  seed: number;
  step: number;
}

// Pre-norm transformer block over all tokens: x += attn(ln1(x)); x += mlp(ln2(x))   x:[B, L, C]
// In training, each residual branch may be dropped per sample (stochastic depth) with probability dropPath.
export class EncoderLayer extends Module {
  layer_norm1: LayerNorm;
  self_attn: MultiHeadAttention;
  layer_norm2: LayerNorm;
  mlp: Mlp;
  training = false;
  /** Stochastic-depth rate and this block's index (part of the mask's seed). */
  _dropPath = 0;
  _site = 0;

  constructor(dim: number, heads: number, hidden: number, act: 'gelu' | 'quick_gelu', eps: number, rng: Rng, causal = false) {
    super();
    this.layer_norm1 = new LayerNorm(dim, eps);
    this.self_attn = new MultiHeadAttention(dim, heads, rng, causal);
    this.layer_norm2 = new LayerNorm(dim, eps);
    this.mlp = new Mlp(dim, hidden, dim, act, rng);
  }

  forward(x: Tensor, noise?: StepNoise): Tensor {
    const h = add(x, this.dropBranch(this.self_attn.forward(this.layer_norm1.forward(x)), noise, 0));
    return add(h, this.dropBranch(this.mlp.forward(this.layer_norm2.forward(h)), noise, 1));
  }

  private dropBranch(branch: Tensor, noise: StepNoise | undefined, which: number): Tensor {
    if (!this.training || this._dropPath <= 0 || !noise) return branch;
    const b = branch.shape[0];
    const keep = 1 - this._dropPath;
    const rng = new Rng(hashSeed(noise.seed, noise.step, this._site * 2 + which));
    const mask = Float32Array.from({ length: b }, () => (rng.next() < keep ? 1 / keep : 0));
    return scaleRows(branch, Tensor.fromArray(mask, [b]));
  }
}

/** Mixes (seed, step, site) into one 32-bit seed. */
export function hashSeed(seed: number, step: number, site: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ step ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ site ^ (h >>> 16), 0x27d4eb2f) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

// Patch embedding: Conv2d(k = s = p) as im2col + matmul (the official model), or the convolutional stem
//   pixels:[B, 3, H, W] -> [B, gh·gw, C], gh = floor(H/p)
export class PatchEmbeddings extends Module {
  /** kind 'linear': the Conv2d's weight and bias. */
  projection?: { weight: Tensor; bias: Tensor };
  /** kinds 'conv' and 'conv3'. */
  stem?: ConvStem;

  constructor(readonly channels: number, readonly patch: number, readonly dim: number, rng: Rng, readonly kind: PatchEmbedKind = 'linear') {
    super();
    if (kind === 'conv' || kind === 'conv3') {
      this.stem = new ConvStem(channels, patch, dim, rng, kind === 'conv3');
      return;
    }
    // stored in Conv2d's [C, Ch, p, p] shape so checkpoints map one to one
    const weight = param(truncNormal([dim, channels, patch, patch], 0.02, rng));
    const bias = param(Tensor.zeros([dim]));
    this.projection = new (class extends Module {
      weight = weight;
      bias = bias;
    })();
  }

  forward(pixels: Tensor): { x: Tensor; gh: number; gw: number } {
    if (this.stem) return this.stem.forward(pixels);
    const projection = this.projection!;
    const { patches, gh, gw } = patchify(pixels, this.patch);
    const w = projection.weight.view([this.dim, this.channels * this.patch * this.patch]);
    return { x: matmul(patches, w, { transB: true, bias: projection.bias }), gh, gw };
  }
}

// A Conv2d's parameters in PyTorch's layout: weight [out, in, k, k], bias [out]
export class Conv2dParams extends Module {
  weight: Tensor;
  bias: Tensor;

  constructor(readonly outChannels: number, readonly inChannels: number, readonly k: number, std: number, rng: Rng) {
    super();
    this.weight = param(truncNormal([outChannels, inChannels, k, k], std, rng));
    this.bias = param(Tensor.zeros([outChannels]));
  }
}

/**
 * Convolutional stem (vision_config.patch_embed 'conv'; not in the official model): TRAINING-NOTES found that the
 * linear patch embedding of a tiny ViT learns colours but not shapes, and a few stride-2 convolutions fix that.
 *   conv 3×3 stride 2 padding 1 to C/2 channels, ReLU                  [B, 3, H, W] -> [B, (H/2)·(W/2), C/2]
 *   per further halving: 2×2 space-to-depth, Linear 4C' -> C, ReLU     [B, h·w, C'] -> [B, (h/2)·(w/2), C]
 * until the grid is H/p; with overlap (patch_embed 'conv3') each further halving is a 3×3 stride-2 convolution with
 * padding 1 instead, a Linear 9C' -> C on the windows of tokenWindows (weight [C, 3, 3, C'] flattened to [C, 9C']);
 * the last Linear has no ReLU (the embeddings' LayerNorm follows). A merge's Linear on the
 * (c, dy, dx)-ordered merged channels is a Conv2d(2, stride 2) whose weight [C, C', 2, 2] is flattened to [C, 4C'].
 * Weights: He (kaiming) fan-in std sqrt(2/fan_in) where a ReLU follows, sqrt(1/fan_in) for the last (the truncated
 * normal of every other init here, cut at 2 std); zero biases.
 */
export class ConvStem extends Module {
  conv: Conv2dParams;
  merges: Linear[];

  constructor(readonly channels: number, readonly patch: number, readonly dim: number, rng: Rng, readonly overlap = false) {
    super();
    const halvings = Math.log2(patch);
    if (!Number.isInteger(halvings) || halvings < 2) throw new Error(`conv stem: patch size ${patch} is not a power of two of at least 4`);
    if (dim % 2) throw new Error(`conv stem: width ${dim} is odd, and the first layer has half of it`);
    const c1 = dim / 2;
    this.conv = new Conv2dParams(c1, channels, 3, Math.sqrt(2 / (channels * 9)), rng);
    this.merges = [];
    for (let i = 0; i < halvings - 1; i++) {
      const fanIn = (overlap ? 9 : 4) * (i === 0 ? c1 : dim);
      const last = i === halvings - 2;
      this.merges.push(new Linear(fanIn, dim, rng, { std: Math.sqrt((last ? 1 : 2) / fanIn) }));
    }
  }

  forward(pixels: Tensor): { x: Tensor; gh: number; gw: number } {
    const [, , h, w] = pixels.shape;
    const p = this.patch;
    if (h < p || w < p) throw new Error(`conv stem: a ${h}x${w} image is smaller than one ${p}x${p} patch`);
    // The stem reads the pixels of the whole patches only, as the linear embedding does: then every stride-2 layer
    // halves an even grid, and the token grid is floor(H/p) × floor(W/p) whatever the remainder.
    const extent: [number, number] = [Math.floor(h / p) * p, Math.floor(w / p) * p];
    const { patches, gh, gw } = im2col(pixels, { k: 3, s: 2, pad: 1 }, extent);
    const c1 = this.conv.outChannels;
    let x = relu(matmul(patches, this.conv.weight.view([c1, this.channels * 9]), { transB: true, bias: this.conv.bias }));
    let grid = [gh, gw];
    this.merges.forEach((merge, i) => {
      const m = this.overlap ? tokenWindows(x, grid[0], grid[1], { k: 3, s: 2, pad: 1 }) : spaceToDepth(x, grid[0], grid[1]);
      const y = merge.forward(m.x);
      x = i < this.merges.length - 1 ? relu(y) : y;
      grid = [m.gh, m.gw];
    });
    return { x, gh: grid[0], gw: grid[1] };
  }
}

export class VisionEmbeddings extends Module {
  patch_embeddings: PatchEmbeddings;
  layernorm: LayerNorm;
  position_embeddings: Tensor;
  private _posCache = new Map<string, Tensor>();

  constructor(readonly cfg: VisionConfig, rng: Rng) {
    super();
    const grid = Math.floor(cfg.image_size / cfg.patch_size);
    this.patch_embeddings = new PatchEmbeddings(cfg.num_channels, cfg.patch_size, cfg.hidden_size, rng, cfg.patch_embed ?? 'linear');
    this.layernorm = new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps);
    this.position_embeddings = param(truncNormal([1, grid * grid, cfg.hidden_size], 0.02, rng));
  }

  get trainGrid(): number {
    return Math.round(Math.sqrt(this.position_embeddings.shape[1]));
  }

  /** Position embeddings for a gh×gw grid: the parameter itself at the trained grid, else a bicubic resize (cached). */
  async positionFor(gh: number, gw: number): Promise<Tensor> {
    const g = this.trainGrid;
    if (gh === g && gw === g) return this.position_embeddings;
    const key = `${gh}x${gw}`;
    let t = this._posCache.get(key);
    if (!t) {
      const src = await this.position_embeddings.toArray();
      t = Tensor.fromArray(resizePosEmbed(src, g, g, this.cfg.hidden_size, gh, gw), [1, gh * gw, this.cfg.hidden_size]).keep();
      this._posCache.set(key, t);
    }
    return t;
  }

  /** Drops cached resized embeddings (after the parameter changed). */
  invalidate(): void {
    for (const t of this._posCache.values()) t.release();
    this._posCache.clear();
  }

  forward(pixels: Tensor, pos: Tensor | null, trace?: Trace): { x: Tensor; gh: number; gw: number } {
    const { x, gh, gw } = this.patch_embeddings.forward(pixels);
    const normed = this.layernorm.forward(x);
    traceSet(trace, 'vision.patch_embeddings', normed);
    const g = this.trainGrid;
    const p = pos ?? (gh === g && gw === g ? this.position_embeddings : null);
    if (!p) throw new Error(`position embeddings for a ${gh}x${gw} grid must be prepared with positionFor()`);
    traceSet(trace, 'vision.pos_embed', p);
    const out = add(normed, p);
    traceSet(trace, 'vision.embeddings', out);
    return { x: out, gh, gw };
  }
}

// One stage: [image tokens, group tokens] through its blocks, then the grouping block (if any)
export class VisionStage extends Module {
  layers: EncoderLayer[];
  group_token: Tensor | null;
  group_projector: [LayerNorm, MixerMlp] | null;
  downsample: GroupingBlock | null;

  constructor(readonly index: number, cfg: VisionConfig, prevGroups: number, rng: Rng) {
    super();
    const c = cfg.hidden_size;
    const groups = cfg.num_group_tokens[index];
    this.layers = [];
    for (let i = 0; i < cfg.depths[index]; i++) {
      this.layers.push(new EncoderLayer(c, cfg.num_attention_heads, cfg.intermediate_size, cfg.hidden_act, cfg.layer_norm_eps, rng));
    }
    this.group_token = groups > 0 ? param(truncNormal([1, groups, c], 0.02, rng)) : null;
    this.group_projector =
      groups > 0 && prevGroups > 0
        ? [new LayerNorm(c, cfg.layer_norm_eps), new MixerMlp(prevGroups, Math.round(c * cfg.assign_mlp_ratio[0]), groups, cfg.hidden_act, rng)]
        : null;
    let last = -1;
    cfg.num_group_tokens.forEach((n, i) => { if (n > 0) last = i; });
    const lastGrouping = last === index;
    const addsGroupToken = !(lastGrouping && cfg.last_segment_tokens === 'tokens');
    this.downsample = groups > 0 ? new GroupingBlock(cfg, groups, cfg.num_output_groups[index], rng, addsGroupToken) : null;
  }

  get numGroupTokens(): number {
    return this.group_token ? this.group_token.shape[1] : 0;
  }

  forward(x: Tensor, prevGroups: Tensor | null, opts: GroupingOptions, trace?: Trace) {
    const pre = `vision.stage${this.index}`;
    const b = x.shape[0];
    const l = x.shape[1];
    let z = x;
    let groups: Tensor | null = null;
    if (this.group_token) {
      const g = this.group_token.shape[1];
      const c = this.group_token.shape[2];
      groups = add(fill([b, g, c], 0), this.group_token); // expand over the batch (gradient sums back)
      if (this.group_projector && prevGroups) {
        const projected = this.group_projector[1].forward(this.group_projector[0].forward(prevGroups));
        traceSet(trace, `${pre}.group_projector_out`, projected);
        groups = add(groups, projected);
      }
      z = concat([x, groups], 1);
    }
    traceSet(trace, `${pre}.blocks_in`, z);
    const noise = opts.seed !== undefined ? { seed: opts.seed, step: opts.step ?? 0 } : undefined;
    this.layers.forEach((layer, i) => {
      z = layer.forward(z, noise);
      traceSet(trace, `${pre}.block${i}.out`, z);
    });
    if (!this.group_token || !this.downsample) return { x: z, groups: null, assignment: null };
    const tokens = slice(z, 1, 0, l);
    const groupOut = slice(z, 1, l, this.numGroupTokens);
    const r = this.downsample.forward(tokens, groupOut, opts, trace, pre);
    return { x: r.x, groups: groupOut, assignment: r.assignment };
  }
}

export interface VisionOutput {
  /** Final LayerNorm over the output segment tokens [B, G, C]. */
  lastHidden: Tensor;
  /** Mean over the segment tokens [B, C]. */
  pooled: Tensor;
  /** Per grouping stage: soft and hard maps [B, S, L], and the noise-free logits they come from (differentiable). */
  assignments: { soft: Tensor; hard: Tensor; logits: Tensor }[];
  grid: [number, number];
}

export class VisionTransformer extends Module {
  embeddings: VisionEmbeddings;
  encoder: { stages: VisionStage[] } & Module;
  layernorm: LayerNorm;

  constructor(readonly cfg: VisionConfig, rng: Rng) {
    super();
    this.embeddings = new VisionEmbeddings(cfg, rng);
    const stages: VisionStage[] = [];
    let prev = 0;
    cfg.depths.forEach((_, i) => {
      stages.push(new VisionStage(i, cfg, prev, rng));
      prev = cfg.num_group_tokens[i]; // the next stage's projector mixes this stage's group tokens
    });
    this.encoder = new (class extends Module {
      stages = stages;
    })();
    this.layernorm = new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps);
    this.setDropPath(0);
  }

  /** Stochastic depth rising linearly from 0 to `rate` over the blocks (NVlabs: linspace(0, 0.1, depth)). */
  setDropPath(rate: number): void {
    const layers = this.encoder.stages.flatMap((s) => s.layers);
    layers.forEach((l, i) => {
      l._dropPath = layers.length > 1 ? (rate * i) / (layers.length - 1) : 0;
      l._site = i;
    });
  }

  forward(pixels: Tensor, pos: Tensor | null, opts: GroupingOptions, trace?: Trace): VisionOutput {
    const { x: emb, gh, gw } = this.embeddings.forward(pixels, pos, trace);
    let x = emb;
    let groups: Tensor | null = null;
    const assignments: { soft: Tensor; hard: Tensor; logits: Tensor }[] = [];
    this.encoder.stages.forEach((stage, i) => {
      if (i > 0) traceSet(trace, `vision.stage${i}.input`, x);
      const r = stage.forward(x, groups, { ...opts, stage: i }, trace);
      x = r.x;
      groups = r.groups;
      if (r.assignment) assignments.push(r.assignment);
    });
    const lastHidden = this.layernorm.forward(x);
    traceSet(trace, 'vision.last_hidden_state', lastHidden);
    const pooled = mean(lastHidden, 1);
    traceSet(trace, 'vision.pooled', pooled);
    return { lastHidden, pooled, assignments, grid: [gh, gw] };
  }
}
