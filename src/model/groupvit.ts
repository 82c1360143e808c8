import { Tensor } from '../tensor/tensor.js';
import { Module, param } from '../nn/module.js';
import { Linear } from '../nn/linear.js';
import { BatchNorm1d } from '../nn/batchnorm.js';
import { relu } from '../ops/activation.js';
import { matmul } from '../ops/matmul.js';
import { mean } from '../ops/reduce.js';
import { scale } from '../ops/elementwise.js';
import { l2Normalize } from '../ops/normalize.js';
import { Rng } from '../util/rng.js';
import type { GroupViTConfig } from './config.js';
import { VisionTransformer, type VisionOutput } from './vision.js';
import { TextTransformer } from './text.js';
import type { GroupingOptions } from './grouping.js';
import type { Trace } from './trace.js';

// Projection head: Linear -> BatchNorm1d -> ReLU -> Linear   [N, in] -> [N, P]  (HF: Sequential indices 0, 1, 3)
export class ProjectionHead extends Module {
  0: Linear;
  1: BatchNorm1d;
  3: Linear;

  constructor(inDim: number, hidden: number, outDim: number, rng: Rng) {
    super();
    this[0] = new Linear(inDim, hidden, rng);
    this[1] = new BatchNorm1d(hidden);
    this[3] = new Linear(hidden, outDim, rng);
  }

  forward(x: Tensor): Tensor {
    return this[3].forward(relu(this[1].forward(this[0].forward(x))));
  }
}

export interface ImageFeatures extends VisionOutput {
  /** Projected pooled embedding [B, P] (before normalisation). */
  embedsUnnorm: Tensor;
  /** Projected per-group embeddings [B, G, P] (before normalisation). */
  groupEmbedsUnnorm: Tensor;
}

export class GroupViTModel extends Module {
  vision_model: VisionTransformer;
  text_model: TextTransformer;
  visual_projection: ProjectionHead;
  text_projection: ProjectionHead;
  logit_scale: Tensor;
  /** exp(logit_scale) clamped at 100, read back once after loading (inference). */
  private _logitScaleValue = 0;

  constructor(readonly config: GroupViTConfig, seed = 0) {
    super();
    const rng = new Rng(seed);
    const v = config.vision_config;
    const t = config.text_config;
    this.vision_model = new VisionTransformer(v, rng);
    this.text_model = new TextTransformer(t, rng);
    this.visual_projection = new ProjectionHead(v.hidden_size, config.projection_intermediate_dim, config.projection_dim, rng);
    this.text_projection = new ProjectionHead(t.hidden_size, config.projection_intermediate_dim, config.projection_dim, rng);
    this.logit_scale = param(Tensor.fromArray([config.logit_scale_init_value], []));
  }

  /** Prepares eval-mode state after weights change: folded BatchNorm, the clamped logit scale, pos-embed caches. */
  async prepareInference(): Promise<void> {
    await this.visual_projection[1].fold();
    await this.text_projection[1].fold();
    this._logitScaleValue = Math.min(Math.exp(await this.logit_scale.item()), 100);
    this.vision_model.embeddings.invalidate();
  }

  get logitScale(): number {
    return this._logitScaleValue;
  }

  /** Eval-mode image features: hard assignment without noise, as the official forward. */
  async encodeImage(pixels: Tensor, trace?: Trace, opts: GroupingOptions = { hard: true, gumbel: false }): Promise<ImageFeatures> {
    const [, , h, w] = pixels.shape;
    const p = this.config.vision_config.patch_size;
    const pos = await this.vision_model.embeddings.positionFor(Math.floor(h / p), Math.floor(w / p));
    const out = this.vision_model.forward(pixels, pos, opts, trace);
    const [b, g, c] = out.lastHidden.shape;
    const groupEmbedsUnnorm = this.visual_projection.forward(out.lastHidden.view([b * g, c])).view([b, g, this.config.projection_dim]);
    const embedsUnnorm = this.imageEmbed(out.pooled, groupEmbedsUnnorm);
    trace?.set('image_embeds_unnorm', embedsUnnorm);
    trace?.set('image_group_embeds_unnorm', groupEmbedsUnnorm);
    return { ...out, embedsUnnorm, groupEmbedsUnnorm };
  }

  /** The image embedding [B, P] from the pooled groups [B, C] or the projected groups [B, G, P] (config.image_embed). */
  imageEmbed(pooled: Tensor, groupEmbeds: Tensor): Tensor {
    return this.config.image_embed === 'project_then_pool' ? mean(groupEmbeds, 1) : this.visual_projection.forward(pooled);
  }

  /** Projected text embeddings [rows, P] (before normalisation). */
  encodeText(ids: Int32Array, rows: number, trace?: Trace): Tensor {
    const { pooled } = this.text_model.forward(ids, rows, trace);
    const e = this.text_projection.forward(pooled);
    trace?.set('text_embeds_unnorm', e);
    return e;
  }

  /** logits_per_image = min(exp(s), 100)·normalize(img)·normalize(txt)ᵀ   [B_img, B_txt] */
  logits(imageEmbeds: Tensor, textEmbeds: Tensor): Tensor {
    return scale(matmul(l2Normalize(imageEmbeds), l2Normalize(textEmbeds), { transB: true }), this._logitScaleValue);
  }
}
