import { Tensor } from '../tensor/tensor.js';
import { add, expClamp, fill, mul, scale } from '../ops/elementwise.js';
import { softmax } from '../ops/softmax.js';
import { matmul } from '../ops/matmul.js';
import { l2Normalize } from '../ops/normalize.js';
import { concat, slice, transpose } from '../ops/shape.js';
import { maxAxis, sumAll } from '../ops/reduce.js';
import { assignmentBalance } from '../ops/grouping-balance.js';
import { diagonalTargets, multiLabelTargets, ownedKeyTargets, presenceCrossEntropy, sameKeysTargets, sharedKeyTargets, softCrossEntropy2d } from '../ops/contrastive.js';
import type { GroupViTModel } from './groupvit.js';
import type { GroupingOptions } from './grouping.js';
import { noGrad } from '../tensor/tape.js';
import { backdropGroups, groundedGroups, matchedNounTargets, targetsFromGroups } from './noun-matching.js';

export interface TrainBatch {
  /** Normalised pixels [B, 3, H, W]. */
  pixels: Tensor;
  /** Caption token ids [B, L], then, when k > 0, k prompts per image [B·k, L] (image-major). */
  captionIds: Int32Array;
  promptIds: Int32Array | null;
  promptsPerImage: number;
  batch: number;
  /** The noun behind each prompt: when given, identical nouns are positives across images (sharedKeyTargets). */
  promptKeys?: readonly string[] | null;
  /**
   * The nouns each image owns, for prompts made once per distinct noun of the batch (any number of rows, one key
   * each in promptKeys): a prompt is a positive of every image owning its key (ownedKeyTargets).
   */
  imageKeys?: readonly (readonly string[])[] | null;
}

/**
 * What the multi-label loss compares with the noun prompts: 'image', the pooled image embedding (the paper), or
 * 'groups', each final group's embedding with a noun scored by its best-matching group (multiple-instance pooling).
 * 'groups' names the groups themselves, which is what zero-shot segmentation reads; the pooled embedding only
 * names the image (TRAINING-NOTES: groups that separate objects but carry no name). 'both' adds the two losses: the
 * max sends the per-group term's gradient to one group per noun, the pooled term reaches every group.
 */
export type MultiLabelPooling = 'image' | 'groups' | 'both';

/**
 * Over what the assignment term's marginal p̄ is taken: 'image' asks every image to use all its groups equally, which
 * makes the final groups equal shares of the image (an object smaller than a share mixes with background); 'batch'
 * asks it of the batch as a whole, leaving each image free to give its background more tokens than its objects;
 * 'image-then-batch' keeps 'image' at the first stage, where the collapse onto near-duplicate groups happens.
 */
export type BalanceScope = 'image' | 'batch' | 'image-then-batch';

export interface Losses {
  total: Tensor;
  contrastive: Tensor;
  multiLabel: Tensor | null;
  /** The assignment term (weight · mean over stages and images), when asked for. */
  balance: Tensor | null;
  /** The smoothness term (weight · mean over images), when asked for. */
  smoothness: Tensor | null;
  /** The contrast term (weight · mean over images), when asked for. */
  contrast: Tensor | null;
  /** The separation term (weight · mean over the images it counts), when asked for. */
  separation: Tensor | null;
  /** The matched noun loss (weight · its cross-entropy), when asked for. */
  matched: Tensor | null;
  /** The noun spread term (weight · nounSpreadLoss), when asked for. */
  spread: Tensor | null;
  /** The presence loss (weight · groupPresenceLoss), when asked for. */
  presence: Tensor | null;
  /** The grounded noun loss (weight · groundedNounLoss), when asked for. */
  grounded: Tensor | null;
}

/** The additions to the paper's objective, each off by default. */
export interface LossOptions {
  /** What the multi-label loss compares with the prompts (default 'image', the paper's). */
  pooling?: MultiLabelPooling;
  /** Weight of assignmentTerm (0: off). */
  balanceWeight?: number;
  balanceScope?: BalanceScope;
  /** Weight of smoothnessTerm (0: off); it needs patchAffinity. */
  smoothWeight?: number;
  /** [B, L, L] neighbour weights of the first stage's L tokens (train/patch-affinity.ts). */
  patchAffinity?: Tensor | null;
  /** Weight of contrastTerm (0: off); it needs patchRepulsion. */
  contrastWeight?: number;
  /** [B, L, L] weights between unlike patches (train/patch-affinity.ts). */
  patchRepulsion?: Tensor | null;
  /** Weight of separationTerm (0: off); it needs objectRepulsion. */
  separationWeight?: number;
  /** [B, L, L] weights between patches of two different objects of the caption, and how many images have any (train/colour-grounding.ts). */
  objectRepulsion?: { weights: Tensor; images: number } | null;
  /** Weight of matchedNounLoss (0: off); it needs prompts made per distinct noun (TrainBatch.imageKeys). */
  matchWeight?: number;
  /** Which group of each image the matching holds out as its backdrop: none, or the one holding most border patches. */
  matchBackdrop?: MatchBackdrop;
  /** Weight of the multi-label loss against the image–caption loss (default 1, the paper's). */
  multiLabelWeight?: number;
  /** Weight of groupPresenceLoss (0: off); it needs prompts made per distinct noun (TrainBatch.imageKeys). */
  presenceWeight?: number;
  /** Weight of nounSpreadLoss (0: off); it needs prompts made per distinct noun, and holds out the backdrop as the presence loss does. */
  spreadWeight?: number;
  /** Weight of groundedNounLoss (0: off); it needs prompts made per distinct noun and the batch's groundingWeights. */
  groundWeight?: number;
  /** The grounded loss's prompts as constants: it moves the groups only (default false: both). */
  groundFixedText?: boolean;
  /** Per image, [keys, L] shares of each patch's pixels in each key's colours (train/colour-grounding.ts). */
  groundingWeights?: readonly Float32Array[] | null;
  /**
   * Which group of each image the per-group multi-label loss leaves out of its max (and the presence loss out of its
   * rows): 'none', or 'border' (the group
   * holding most border patches, the backdrop; model/noun-matching.ts backdropGroups). With 'none' the backdrop's
   * group, the largest, wins the max for every noun and carries the scene's names (README, Training).
   */
  multiLabelBackdrop?: MatchBackdrop;
  /**
   * Targets of the image–caption loss: 'paper' (the diagonal), or 'shared' (captions naming the same nouns are
   * positives of each other's images, sameKeysTargets; needs TrainBatch.imageKeys, else the diagonal).
   */
  contrastiveTargets?: ContrastiveTargets;
}

export type ContrastiveTargets = 'paper' | 'shared';

/** 'border': the group holding most of the image's border patches takes no noun (model/noun-matching.ts backdropGroups). */
export type MatchBackdrop = 'none' | 'border';

/** s·normalize(a)·normalize(b)ᵀ with s = min(exp(logScale), 100)   a:[N, P], b:[M, P] -> [N, M] */
function scaledCosine(a: Tensor, b: Tensor, logScale: Tensor): Tensor {
  return mul(matmul(l2Normalize(a), l2Normalize(b), { transB: true }), expClamp(logScale, 100));
}

/**
 * Logits of B images against M prompts from G embeddings per image (G = 1: the pooled image embedding), each
 * prompt scored by the image's best-matching embedding.   embeds:[B·G, P], prompts:[M, P] -> [B, M]
 */
export function promptLogits(embeds: Tensor, groups: number, prompts: Tensor, logScale: Tensor, heldOut: Int32Array | null = null): Tensor {
  let all = scaledCosine(embeds, prompts, logScale);
  if (groups === 1) return all;
  if (heldOut) all = add(all, Tensor.fromArray(heldOutPenalty(heldOut, groups, prompts.shape[0]), all.shape));
  return maxAxis(all.view([embeds.shape[0] / groups, groups, prompts.shape[0]]), 1);
}

/** Logits far below any cosine's (at most 100 in size): an image's held-out group never wins its max. */
const HELD_OUT_LOGIT = -1e4;

/** An additive mask over per-group prompt logits: HELD_OUT_LOGIT on the rows of each image's held-out group.   -> [B·G, M] */
export function heldOutPenalty(heldOut: Int32Array, groups: number, prompts: number): Float32Array {
  const out = new Float32Array(heldOut.length * groups * prompts);
  heldOut.forEach((g, i) => out.fill(HELD_OUT_LOGIT, (i * groups + g) * prompts, (i * groups + g + 1) * prompts));
  return out;
}

/**
 * weight · the mean over grouping stages and images of −H(p̄) + mean_t H(p_t) (ops/grouping-balance.ts): an addition
 * to the paper. Without it the tiny preset's first stage sends every token to a cluster of near-duplicate groups
 * (logit gap between the two best groups 0.008, between the best and the group after them 4.7), so the soft maps give
 * every pixel the same final group.
 */
export function assignmentTerm(logits: Tensor[], weight: number, scope: BalanceScope): Tensor {
  const perStage = logits.map((l, stage) => {
    const [b, s, n] = l.shape;
    const overBatch = scope === 'batch' || (scope === 'image-then-batch' && stage > 0);
    // [B, S, L] -> [1, S, B·L]: one marginal over every token of the batch
    const x = overBatch ? transpose(transpose(l).view([1, b * n, s])) : l;
    return scale(sumAll(assignmentBalance(x, 1)), weight / (x.shape[0] * logits.length));
  });
  return perStage.reduce((a, x) => add(a, x));
}

/**
 * Each patch's soft assignment to the final groups: every stage's noise-free softmax over its groups, multiplied
 * through the stages (the map segmentation reads).   logits: per stage [B, S, L] (L = the previous stage's S) -> [B, L0, S_last]
 */
export function compositeAssignment(logits: Tensor[]): Tensor {
  return logits.map((l) => softmax(transpose(l))).reduce((a, p) => matmul(a, p));
}

/**
 * weight · the mean over images of Σ_tu w_tu·(1 − c_t·c_u), with c the composite assignment and w the image's
 * contrast-sensitive neighbour weights (summing to 1; train/patch-affinity.ts): the weighted share of like-coloured
 * neighbours that end in different groups (0 to 1). An addition to the paper: with the balance term alone the tiny
 * model's final groups are one fixed partition of the image by position, the same in every image, which the balance
 * term rewards as much as any; this term makes cutting along colour edges the cheap way to use every group.
 * c: [B, L, S], affinity: [B, L, L] -> []
 */
export function smoothnessTerm(c: Tensor, affinity: Tensor, weight: number): Tensor {
  const agree = sumAll(mul(c, matmul(affinity, c)));
  return add(scale(agree, -weight / c.shape[0]), fill(agree.shape, weight));
}

/**
 * weight · the mean over images of Σ_tu r_tu·c_t·c_u, r the image's weights between patches of unlike colour (summing
 * to 1; patchRepulsion): the share of unlike pairs that share a group (0 to 1). The smoothness term only makes
 * colour edges the cheap place to cut; this one asks for the cut, so that two objects of different colours, or an
 * object and its backdrop, do not end in one group.   c: [B, L, S], repulsion: [B, L, L] -> []
 */
export function contrastTerm(c: Tensor, repulsion: Tensor, weight: number): Tensor {
  return scale(sumAll(mul(c, matmul(repulsion, c))), weight / c.shape[0]);
}

/**
 * weight · the mean over the images that name two objects apart of Σ_tu r_tu·c_t·c_u, r the weights between the
 * patches of two different objects of the caption (train/colour-grounding.ts objectRepulsion): the share of such
 * pairs that share a final group (0 to 1). An addition to the paper: the tiny preset's final groups hold two objects
 * of different colours in a quarter of its object groups (README, Training, eighteenth session), which no naming can
 * undo; the contrast term's weights are mostly object against backdrop.   c: [B, L, S], repulsion: [B, L, L] -> []
 */
export function separationTerm(c: Tensor, repulsion: Tensor, images: number, weight: number): Tensor {
  return contrastTerm(c, repulsion, (weight * c.shape[0]) / Math.max(1, images));
}

/**
 * weight · the multi-label loss between the final groups and the noun prompts, with each image's nouns matched to
 * distinct groups (model/noun-matching.ts; the matching reads the scores back, one sync in the step): a matched
 * group's row targets its noun's prompts, a prompt's column targets the groups matched to its noun, so the owner's
 * other groups are among its negatives. An addition to the paper: with the best-group score ('groups' pooling) one
 * group can carry every name of its image (the tiny preset's backdrop group took a shape's name in 42% of scenes).
 * heldOut: per image a group that takes no noun (its backdrop), or -1.
 *   groupRows:[B·G, P], prompts:[M, P] -> []
 */
export async function matchedNounLoss(groupRows: Tensor, groups: number, prompts: Tensor, logScale: Tensor, imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], weight: number, heldOut: Int32Array | null = null): Promise<Tensor> {
  const logits = scaledCosine(groupRows, prompts, logScale);
  const t = matchedNounTargets(await logits.toArray(), groups, imageKeys, promptKeys, heldOut);
  const [n, m] = logits.shape;
  const loss = softCrossEntropy2d(logits, Tensor.fromArray(t.rows, [n, m]), Tensor.fromArray(t.cols, [n, m]));
  return scale(loss, weight);
}

/**
 * Positives of the presence loss: group g of image i against prompt j when image i owns prompt j's noun, except on
 * the row of each image's held-out group (its backdrop, -1: none), which has none and adds nothing.
 *   -> [B·G, M]
 */
export function presencePositives(imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], groups: number, heldOut: Int32Array | null): Float32Array {
  const m = promptKeys.length;
  const out = new Float32Array(imageKeys.length * groups * m);
  imageKeys.forEach((keys, i) => {
    const owns = new Set(keys);
    for (let g = 0; g < groups; g++) {
      if (heldOut && heldOut[i] === g) continue;
      promptKeys.forEach((key, j) => {
        if (owns.has(key)) out[(i * groups + g) * m + j] = 1;
      });
    }
  });
  return out;
}

/**
 * weight · the mean over final groups of −log Σ_{prompts of the image's nouns} softmax over the batch's prompts: every
 * group but the held-out backdrop should be named by some noun of its own caption, none in particular. An addition to
 * the paper: the per-group multi-label loss's max trains one group per noun and leaves the others free, and in weak
 * runs the objects' groups are named shapes absent from the scene (50–70% of misnamed objects, README, Training).
 *   groupRows:[B·G, P], prompts:[M, P] -> []
 */
export function groupPresenceLoss(groupRows: Tensor, groups: number, prompts: Tensor, logScale: Tensor, imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], weight: number, heldOut: Int32Array | null): Tensor {
  const logits = scaledCosine(groupRows, prompts, logScale);
  const positives = Tensor.fromArray(presencePositives(imageKeys, promptKeys, groups, heldOut), logits.shape);
  return scale(presenceCrossEntropy(logits, positives), weight);
}

/**
 * Constants of the noun spread term for a batch: which group rows it reads (every image's groups but its held-out
 * backdrop, in order), each noun's prompts averaged (prompts [M] -> nouns [N], the batch's distinct nouns in first-seen
 * order), the nouns each image does not own masked out, and which images count (those owning two nouns or more).
 *   -> select:[B·kept, B·G], average:[M, N], mask:[B·kept, N], counts:[B]
 */
export function nounSpreadConstants(imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], groups: number, heldOut: Int32Array | null) {
  const B = imageKeys.length;
  const kept = heldOut ? groups - 1 : groups;
  if (heldOut && heldOut.some((h) => h < 0 || h >= groups)) throw new Error('nounSpreadConstants: every image needs its held-out group');
  const select = new Float32Array(B * kept * B * groups);
  for (let i = 0; i < B; i++) {
    let r = 0;
    for (let g = 0; g < groups; g++) if (!heldOut || heldOut[i] !== g) select[(i * kept + r++) * B * groups + i * groups + g] = 1;
  }
  const nouns = [...new Set(promptKeys)];
  const average = new Float32Array(promptKeys.length * nouns.length);
  promptKeys.forEach((key, j) => (average[j * nouns.length + nouns.indexOf(key)] = 1 / promptKeys.filter((k) => k === key).length));
  const mask = new Float32Array(B * kept * nouns.length);
  const counts = new Float32Array(B);
  imageKeys.forEach((keys, i) => {
    const owns = new Set(keys);
    counts[i] = nouns.filter((n) => owns.has(n)).length >= 2 ? 1 : 0;
    for (let r = 0; r < kept; r++) nouns.forEach((n, c) => (mask[(i * kept + r) * nouns.length + c] = owns.has(n) ? 0 : -1e4));
  });
  return { select, average, mask, counts, kept, nouns: nouns.length };
}

/**
 * weight · the mean over images owning two nouns or more of −I(group; noun) within the image: its final groups but
 * the backdrop are named over its own nouns only (each noun's prompt logits averaged, a softmax over the image's
 * nouns), and the term asks each group for one noun (low entropy) and the groups together for all of them (high
 * entropy of their mean), the balance term's mutual information (kernels/grouping-balance.wgsl) with nouns in place of
 * groups. An addition to the paper: the per-noun max and the presence loss let every group of a scene carry the same
 * name, and in the shipped model 72% of the objects' groups carry the image's top class (README, Training).
 *   groupRows:[B·G, P], prompts:[M, P] -> []
 */
export function nounSpreadLoss(groupRows: Tensor, groups: number, prompts: Tensor, logScale: Tensor, imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], weight: number, heldOut: Int32Array | null): Tensor {
  const B = imageKeys.length;
  const c = nounSpreadConstants(imageKeys, promptKeys, groups, heldOut);
  const rows = matmul(Tensor.fromArray(c.select, [B * c.kept, B * groups]), groupRows);
  const perNoun = matmul(scaledCosine(rows, prompts, logScale), Tensor.fromArray(c.average, [promptKeys.length, c.nouns]));
  const logits = add(perNoun, Tensor.fromArray(c.mask, [B * c.kept, c.nouns])).view([B, c.kept, c.nouns]);
  const perImage = mul(assignmentBalance(transpose(logits), 1), Tensor.fromArray(c.counts, [B]));
  const counted = c.counts.reduce((a, x) => a + x, 0);
  return scale(sumAll(perImage), weight / Math.max(1, counted));
}

/**
 * weight · the multi-label loss between the final groups and the noun prompts with each noun's target the group its
 * caption's colour words ground it in: the group that best overlaps the noun's pixels ("a red star": the red ones;
 * model/noun-matching.ts groundedGroups, train/colour-grounding.ts). Every other loss here names a group by what the
 * model already says of it (the best group, a matching on its own scores, any noun of the caption), and in the tiny
 * models every group of a scene then says the scene's best name: an object's group is named as it in 62% of
 * one-object scenes and 25% of three-object ones (README, Training, eleventh session). The colours say which group
 * is which object without a label. An addition to the paper. Reads the assignment back (one sync, shared with the
 * backdrop's).   groupRows:[B·G, P], prompts:[M, P], assignment:[B, L, G] (host) -> []
 */
export function groundedNounLoss(groupRows: Tensor, groups: number, prompts: Tensor, logScale: Tensor, imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], weight: number, assignment: Float32Array, weights: readonly Float32Array[]): Tensor {
  const logits = scaledCosine(groupRows, prompts, logScale);
  const t = targetsFromGroups(groundedGroups(assignment, weights, imageKeys, groups), groups, imageKeys, promptKeys);
  const [n, m] = logits.shape;
  return scale(softCrossEntropy2d(logits, Tensor.fromArray(t.rows, [n, m]), Tensor.fromArray(t.cols, [n, m])), weight);
}

/**
 * GroupViT's training objective (GROUPVIT.md §1.5): the symmetric image–caption contrastive loss plus, when prompts
 * are given, the multi-label loss of each image against its k noun prompts with its own logit scale.
 * The captions and prompts go through the text tower as one batch, so BatchNorm sees them together as NVlabs does.
 */
export async function groupvitLosses(model: GroupViTModel, multiLabelScale: Tensor | null, b: TrainBatch, g: GroupingOptions, o: LossOptions = {}): Promise<Losses> {
  const pooling = o.pooling ?? 'image';
  const out = model.vision_model.forward(b.pixels, null, g);
  const logits = out.assignments.map((a) => a.logits);
  const balance = (o.balanceWeight ?? 0) > 0 && logits.length ? assignmentTerm(logits, o.balanceWeight!, o.balanceScope ?? 'image') : null;
  const smoothWeight = o.smoothWeight ?? 0;
  const contrastWeight = o.contrastWeight ?? 0;
  const separationWeight = o.objectRepulsion ? o.separationWeight ?? 0 : 0;
  if ((o.separationWeight ?? 0) > 0 && !o.objectRepulsion) throw new Error('groupvitLosses: the separation term needs the object repulsion');
  if (smoothWeight > 0 && !o.patchAffinity) throw new Error('groupvitLosses: the smoothness term needs the patch affinity');
  if (contrastWeight > 0 && !o.patchRepulsion) throw new Error('groupvitLosses: the contrast term needs the patch repulsion');
  const matchWeight = o.matchWeight ?? 0;
  const presenceWeight = o.presenceWeight ?? 0;
  const spreadWeight = o.spreadWeight ?? 0;
  const groundWeight = o.groundWeight ?? 0;
  const perGroupNouns = pooling !== 'image' || presenceWeight > 0 || spreadWeight > 0 || groundWeight > 0;
  const border = ((matchWeight > 0 && o.matchBackdrop === 'border') || (perGroupNouns && o.multiLabelBackdrop === 'border')) && logits.length > 0;
  const composite = (smoothWeight > 0 || contrastWeight > 0 || separationWeight > 0) && logits.length ? compositeAssignment(logits) : null;
  const smoothness = composite && smoothWeight > 0 ? smoothnessTerm(composite, o.patchAffinity!, smoothWeight) : null;
  const contrast = composite && contrastWeight > 0 ? contrastTerm(composite, o.patchRepulsion!, contrastWeight) : null;
  const separation = composite && separationWeight > 0 ? separationTerm(composite, o.objectRepulsion!.weights, o.objectRepulsion!.images, separationWeight) : null;
  const withTerms = (x: Tensor) => [balance, smoothness, contrast, separation].reduce<Tensor>((acc, t) => (t ? add(acc, t) : acc), x);
  const k = b.promptIds && multiLabelScale ? b.promptsPerImage : 0;
  if (matchWeight > 0 && k > 0 && !b.imageKeys) throw new Error('groupvitLosses: the matched noun loss needs prompts made per distinct noun (imageKeys)');
  if (presenceWeight > 0 && k > 0 && !b.imageKeys) throw new Error('groupvitLosses: the presence loss needs prompts made per distinct noun (imageKeys)');
  if (spreadWeight > 0 && k > 0 && !b.imageKeys) throw new Error('groupvitLosses: the noun spread term needs prompts made per distinct noun (imageKeys)');
  // prompt rows: k per image, or one per (distinct noun, template) of the batch
  const m = !k ? 0 : b.imageKeys ? b.promptKeys!.length : b.batch * k;
  const [, groups, width] = out.lastHidden.shape;
  // With per-group prompts the groups go through the projection with the pooled rows, in one batch, so its
  // BatchNorm sees both kinds of rows it will meet at inference (segmentation projects the groups).
  const perGroup = k > 0 && (perGroupNouns || matchWeight > 0);
  const groupsIn = out.lastHidden.view([b.batch * groups, width]);
  let image: Tensor;
  let groupRows: Tensor | null = null;
  if (model.config.image_embed === 'project_then_pool') {
    // every group goes through the projection; the image embedding is their mean (the rule encodeImage uses)
    groupRows = model.visual_projection.forward(groupsIn);
    image = model.imageEmbed(out.pooled, groupRows.view([b.batch, groups, groupRows.shape[1]]));
  } else if (perGroup) {
    const projected = model.visual_projection.forward(concat([out.pooled, groupsIn], 0));
    image = slice(projected, 0, 0, b.batch);
    groupRows = slice(projected, 0, b.batch, b.batch * groups);
  } else {
    image = model.visual_projection.forward(out.pooled);
  }
  const ids = k ? Int32Array.from([...b.captionIds, ...b.promptIds!]) : b.captionIds;
  const rows = b.batch + m;
  const text = model.encodeText(ids, rows);
  const captions = k ? slice(text, 0, 0, b.batch) : text;
  const shared = o.contrastiveTargets === 'shared' && b.imageKeys;
  const eye = Tensor.fromArray(shared ? sameKeysTargets(b.imageKeys!) : diagonalTargets(b.batch), [b.batch, b.batch]);
  const contrastive = softCrossEntropy2d(scaledCosine(image, captions, model.logit_scale), eye, eye);
  if (!k) return { total: withTerms(contrastive), contrastive, multiLabel: null, balance, smoothness, contrast, separation, matched: null, presence: null, spread: null, grounded: null };
  const prompts = slice(text, 0, b.batch, m);
  const t = b.imageKeys ? ownedKeyTargets(b.imageKeys, b.promptKeys!) : b.promptKeys ? sharedKeyTargets(b.batch, k, b.promptKeys) : multiLabelTargets(b.batch, k);
  const rowT = Tensor.fromArray(t.rows, [b.batch, m]);
  const colT = Tensor.fromArray(t.cols, [b.batch, m]);
  let heldOut: Int32Array | null = null;
  const grounding = groundWeight > 0 && logits.length > 0;
  if (grounding && (!b.imageKeys || !o.groundingWeights)) throw new Error('groupvitLosses: the grounded noun loss needs prompts made per distinct noun and the batch\'s grounding weights');
  let assignment: Float32Array | null = null;
  if (border || grounding) {
    const map = composite ?? noGrad(() => compositeAssignment(logits));
    assignment = await map.toArray();
  }
  if (border) {
    const [, , h, w] = b.pixels.shape;
    const p = model.config.vision_config.patch_size;
    heldOut = backdropGroups(assignment!, b.batch, h / p, w / p, groups);
  }
  // the group the per-group noun losses (the max and the presence loss) leave out
  const nounHeldOut = o.multiLabelBackdrop === 'border' ? heldOut : null;
  const perGroupLoss = () => softCrossEntropy2d(promptLogits(groupRows!, groups, prompts, multiLabelScale!, nounHeldOut), rowT, colT);
  const pooledLoss = () => softCrossEntropy2d(promptLogits(image, 1, prompts, multiLabelScale!), rowT, colT);
  const unweighted = pooling === 'image' ? pooledLoss() : pooling === 'groups' ? perGroupLoss() : add(pooledLoss(), perGroupLoss());
  const multiLabelWeight = o.multiLabelWeight ?? 1;
  const multiLabel = multiLabelWeight === 1 ? unweighted : scale(unweighted, multiLabelWeight);
  const matchHeldOut = o.matchBackdrop === 'border' ? heldOut : null;
  const matched = matchWeight > 0 ? await matchedNounLoss(groupRows!, groups, prompts, multiLabelScale!, b.imageKeys!, b.promptKeys!, matchWeight, matchHeldOut) : null;
  const presence = presenceWeight > 0 ? groupPresenceLoss(groupRows!, groups, prompts, multiLabelScale!, b.imageKeys!, b.promptKeys!, presenceWeight, nounHeldOut) : null;
  const spread = spreadWeight > 0 ? nounSpreadLoss(groupRows!, groups, prompts, multiLabelScale!, b.imageKeys!, b.promptKeys!, spreadWeight, nounHeldOut) : null;
  // with the text fixed, the prompt rows enter the grounded loss as constants (a view off the tape)
  const grounded = grounding ? groundedNounLoss(groupRows!, groups, o.groundFixedText ? noGrad(() => prompts.view(prompts.shape)) : prompts, multiLabelScale!, b.imageKeys!, b.promptKeys!, groundWeight, assignment!, o.groundingWeights!) : null;
  const nounTerms = [matched, presence, spread, grounded].reduce<Tensor>((acc, t) => (t ? add(acc, t) : acc), multiLabel);
  const total = withTerms(add(contrastive, nounTerms));
  return { total, contrastive, multiLabel, balance, smoothness, contrast, separation, matched, presence, spread, grounded };
}
