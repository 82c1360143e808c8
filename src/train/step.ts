import { Tensor, tidyAsync } from '../tensor/tensor.js';
import { backward, noGrad } from '../tensor/tape.js';
import { concat } from '../ops/shape.js';
import { param } from '../nn/module.js';
import type { GroupViTModel } from '../model/groupvit.js';
import { groupvitLosses, type BalanceScope, type ContrastiveTargets, type MatchBackdrop, type MultiLabelPooling } from '../model/losses.js';
import { AdamW, type AdamWOptions } from './adamw.js';
import { patchAffinity, patchRepulsion } from './patch-affinity.js';
import { groundingWeights, objectRepulsion } from './colour-grounding.js';
import type { NounPhrase } from '../data/shapes/nouns.js';

export interface StepInput {
  pixels: Float32Array;
  /** [B, 3, H, W] */
  shape: [number, number, number, number];
  captionIds: Int32Array;
  promptIds: Int32Array | null;
  promptsPerImage: number;
  /** Per prompt, its noun (de-duplicated multi-label targets); null for the paper's one-owner targets. */
  promptKeys?: string[] | null;
  /** Per image, the nouns it owns, when the prompts are made once per distinct noun of the batch. */
  imageKeys?: string[][] | null;
  /** [B, L, L] weights of the smoothness and contrast terms, made with the batch (patch-affinity.ts withPatchWeights); made in the step when absent. */
  patchAffinity?: Float32Array | null;
  patchRepulsion?: Float32Array | null;
  /** Per image, the noun phrases of its caption with their colour words (the grounded noun loss; colour-grounding.ts). */
  imagePhrases?: NounPhrase[][] | null;
  /** Per image, [keys, L] shares of each patch's pixels in each key's colours, made with the batch; made in the step when absent. */
  groundingWeights?: Float32Array[] | null;
}

export interface StepResult {
  loss: number;
  contrastive: number;
  multiLabel: number;
  gradNorm: number;
  /** The assignment term, when the step has one. */
  balance?: number;
  /** The smoothness term, when the step has one. */
  smoothness?: number;
  /** The contrast term, when the step has one. */
  contrast?: number;
  /** The separation term, when the step has one. */
  separation?: number;
  /** The matched noun loss, when the step has one. */
  matched?: number;
  /** The presence loss, when the step has one. */
  presence?: number;
  /** The noun spread term, when the step has one. */
  spread?: number;
  /** The grounded noun loss, when the step has one. */
  grounded?: number;
}

export interface TrainStepOptions extends AdamWOptions {
  seed: number;
  /** Hard (straight-through) assignment as the paper; false for the soft ablation. */
  hard?: boolean;
  gumbel?: boolean;
  tau?: number;
  dropPath?: number;
  multiLabel?: boolean;
  /** What the multi-label loss compares with the prompts (default 'image', the paper's). */
  multiLabelPooling?: MultiLabelPooling;
  /** Weight of the multi-label loss against the image–caption loss (default 1, the paper's). */
  multiLabelWeight?: number;
  /** Weight of the assignment term that keeps groups apart (0: off, the paper). */
  groupBalance?: number;
  groupBalanceScope?: BalanceScope;
  /** Weight of the term that asks like-coloured neighbouring patches to share a final group (0: off, the paper). */
  groupSmoothness?: number;
  /**
   * Steps before the smoothness term starts; it then ramps up linearly over as many steps. From step 1 it meets the
   * uniform assignment (a saddle of the term) before the balance term has spread the tokens over the groups, and
   * pulls each image onto one or two groups, which the balance term does not undo.
   */
  groupSmoothnessStart?: number;
  /** Weight of the term asking patches of unlike colour not to share a final group (0: off); it follows the smoothness schedule. */
  groupContrast?: number;
  /**
   * Weight of the term asking two objects the caption names apart not to share a final group (model/losses.ts
   * separationTerm; 0: off, the paper); on the smoothness term's schedule. Needs the batch's noun phrases.
   */
  groupSeparation?: number;
  /** Weight of the matched noun loss (model/losses.ts matchedNounLoss; 0: off, the paper). */
  groupNounMatching?: number;
  /** Which group of each image the matching holds out as its backdrop (default 'none'). */
  groupNounMatchingBackdrop?: MatchBackdrop;
  /** Optimiser steps after which the matched noun loss stops (0: never). */
  groupNounMatchingUntil?: number;
  /** Weight of the presence loss (model/losses.ts groupPresenceLoss; 0: off, the paper). */
  groupPresence?: number;
  /** Weight of the noun spread term (model/losses.ts nounSpreadLoss; 0: off, the paper). */
  groupNounSpread?: number;
  /** Weight of the grounded noun loss (model/losses.ts groundedNounLoss; 0: off, the paper). */
  groupNounGrounding?: number;
  /** Optimiser steps before the grounded noun loss starts (0: from the first). */
  groupNounGroundingStart?: number;
  /** 'fixed': the grounded loss moves the groups only, the prompts' text held constant in it (default 'train'). */
  groupNounGroundingText?: 'train' | 'fixed';
  /** Optimiser steps after which the other per-group noun terms (the per-group max of pooling 'both', the presence loss) stop (0: never). */
  groupNounTermsUntil?: number;
  /** Which group of each image the per-group multi-label loss leaves out of its max (default 'none'; model/losses.ts). */
  multiLabelBackdrop?: MatchBackdrop;
  /** Targets of the image–caption loss (default 'paper', the diagonal; model/losses.ts). */
  contrastiveTargets?: ContrastiveTargets;
}

/**
 * The per-group noun terms at an optimiser step: the grounded loss's weight (0 before its start), and the pooling and
 * presence weight of the other per-group terms (the per-group max of 'both' and the presence loss stop at termsUntil,
 * 0: never). Measured: beside the others the grounded loss leaves the echo as it is; alone from the start it removes it
 * and holds recognition back (README, Training, twelfth session); this lets the preset's terms teach recognition first.
 */
export function nounTermsAt(o: Pick<TrainStepOptions, 'groupNounGrounding' | 'groupNounGroundingStart' | 'groupNounTermsUntil' | 'multiLabelPooling' | 'groupPresence'>, step: number): { ground: number; pooling: MultiLabelPooling | undefined; presence: number } {
  const ground = step < (o.groupNounGroundingStart ?? 0) ? 0 : o.groupNounGrounding ?? 0;
  const until = o.groupNounTermsUntil ?? 0;
  if (until > 0 && step >= until) return { ground, pooling: o.multiLabelPooling === 'groups' || o.multiLabelPooling === 'both' ? 'image' : o.multiLabelPooling, presence: 0 };
  return { ground, pooling: o.multiLabelPooling, presence: o.groupPresence ?? 0 };
}

/** The smoothness or contrast term's weight at an optimiser step (0-based): off for `start` steps, then a linear ramp as long. */
export function groupingTermWeightAt(weight: number, start: number, step: number): number {
  if (start <= 0) return weight;
  return weight * Math.min(1, Math.max(0, (step - start) / start));
}

/**
 * One optimisation step: forward, both losses, backward and AdamW, recorded into one command encoder and submitted
 * once; the readback is the losses and the gradient norm at the end (and, with the matched noun loss, its scores
 * before its targets are made).
 */
export class TrainStep {
  readonly optimizer: AdamW;
  /** NVlabs' separate temperature of the multi-label loss (not part of Hugging Face's checkpoint layout). */
  readonly multiLabelScale: Tensor | null;

  constructor(readonly model: GroupViTModel, readonly o: TrainStepOptions) {
    model.train();
    model.vision_model.setDropPath(o.dropPath ?? 0);
    this.multiLabelScale = o.multiLabel === false ? null : param(Tensor.fromArray([model.config.logit_scale_init_value], []));
    const named = model.namedParameters();
    if (this.multiLabelScale) named.push(['multi_label_logit_scale', this.multiLabelScale]);
    this.optimizer = new AdamW(named, o);
  }

  async run(input: StepInput, lr: number): Promise<StepResult> {
    const step = this.optimizer.step;
    const smoothWeight = groupingTermWeightAt(this.o.groupSmoothness ?? 0, this.o.groupSmoothnessStart ?? 0, step);
    const contrastWeight = groupingTermWeightAt(this.o.groupContrast ?? 0, this.o.groupSmoothnessStart ?? 0, step);
    const separationWeight = input.imageKeys && input.imagePhrases ? groupingTermWeightAt(this.o.groupSeparation ?? 0, this.o.groupSmoothnessStart ?? 0, step) : 0;
    const until = this.o.groupNounMatchingUntil ?? 0;
    const matchWeight = until > 0 && step >= until ? 0 : this.o.groupNounMatching ?? 0;
    const terms = nounTermsAt(this.o, step);
    const values = await tidyAsync(async () => {
      const pixels = Tensor.fromArray(input.pixels, input.shape);
      const p = this.model.config.vision_config.patch_size;
      const [bsz, , h, w] = input.shape;
      const pairShape = [bsz, (h / p) * (w / p), (h / p) * (w / p)];
      const affinity = smoothWeight > 0 ? Tensor.fromArray(input.patchAffinity ?? patchAffinity(input.pixels, input.shape, h / p, w / p), pairShape) : null;
      const groundWeight = terms.ground;
      const colourWeights = (groundWeight > 0 || separationWeight > 0) && input.imageKeys && input.imagePhrases ? input.groundingWeights ?? groundingWeights(input.pixels, input.shape, h / p, w / p, input.imageKeys, input.imagePhrases) : null;
      const grounding = groundWeight > 0 ? colourWeights : null;
      const objects = separationWeight > 0 && colourWeights ? objectRepulsion(colourWeights, pairShape[1]) : null;
      const separation = objects ? { weights: Tensor.fromArray(objects.repulsion, pairShape), images: objects.images } : null;
      const repulsion = contrastWeight > 0 ? Tensor.fromArray(input.patchRepulsion ?? patchRepulsion(input.pixels, input.shape, h / p, w / p), pairShape) : null;
      const losses = await groupvitLosses(
        this.model,
        this.multiLabelScale,
        { pixels, captionIds: input.captionIds, promptIds: input.promptIds, promptsPerImage: input.promptsPerImage, batch: bsz, promptKeys: input.promptKeys, imageKeys: input.imageKeys },
        { hard: this.o.hard ?? true, gumbel: this.o.gumbel ?? true, tau: this.o.tau ?? 1, seed: this.o.seed, step },
        { pooling: terms.pooling, multiLabelWeight: this.o.multiLabelWeight, balanceWeight: this.o.groupBalance, balanceScope: this.o.groupBalanceScope, smoothWeight, patchAffinity: affinity, contrastWeight, patchRepulsion: repulsion, separationWeight, objectRepulsion: separation, matchWeight, matchBackdrop: this.o.groupNounMatchingBackdrop, contrastiveTargets: this.o.contrastiveTargets, multiLabelBackdrop: this.o.multiLabelBackdrop, presenceWeight: terms.presence, spreadWeight: this.o.groupNounSpread, groundWeight: grounding ? groundWeight : 0, groundingWeights: grounding, groundFixedText: this.o.groupNounGroundingText === 'fixed' },
      );
      backward(losses.total);
      this.optimizer.update(lr);
      for (const [, p] of this.optimizer.params) {
        p.grad?.release();
        p.grad = null;
      }
      const parts = [losses.total, losses.contrastive, losses.multiLabel ?? losses.contrastive, losses.balance ?? losses.contrastive, losses.smoothness ?? losses.contrastive, losses.contrast ?? losses.contrastive, losses.matched ?? losses.contrastive, losses.presence ?? losses.contrastive, losses.spread ?? losses.contrastive, losses.grounded ?? losses.contrastive, losses.separation ?? losses.contrastive, this.optimizer.scalars];
      return noGrad(() => concat(parts.map((t) => t.view([t.size])), 0)).toArray();
    });
    const r: StepResult = { loss: values[0], contrastive: values[1], multiLabel: this.multiLabelScale ? values[2] : 0, gradNorm: values[11] };
    if (this.o.groupBalance) r.balance = values[3];
    if (smoothWeight > 0) r.smoothness = values[4];
    if (contrastWeight > 0) r.contrast = values[5];
    if (separationWeight > 0) r.separation = values[10];
    if (matchWeight > 0 && this.multiLabelScale) r.matched = values[6];
    if (terms.presence > 0 && this.multiLabelScale) r.presence = values[7];
    if ((this.o.groupNounSpread ?? 0) > 0 && this.multiLabelScale) r.spread = values[8];
    if (terms.ground > 0 && this.multiLabelScale && input.imagePhrases) r.grounded = values[9];
    return r;
  }

  release(): void {
    this.optimizer.release();
    this.multiLabelScale?.release();
  }
}
