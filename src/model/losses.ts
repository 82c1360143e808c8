import { Tensor } from '../tensor/tensor.js';
import { add, expClamp, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { l2Normalize } from '../ops/normalize.js';
import { slice } from '../ops/shape.js';
import { diagonalTargets, multiLabelTargets, sharedKeyTargets, softCrossEntropy2d } from '../ops/contrastive.js';
import type { GroupViTModel } from './groupvit.js';
import type { GroupingOptions } from './grouping.js';

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
}

export interface Losses {
  total: Tensor;
  contrastive: Tensor;
  multiLabel: Tensor | null;
}

/** s·normalize(a)·normalize(b)ᵀ with s = min(exp(logScale), 100)   a:[N, P], b:[M, P] -> [N, M] */
function scaledCosine(a: Tensor, b: Tensor, logScale: Tensor): Tensor {
  return mul(matmul(l2Normalize(a), l2Normalize(b), { transB: true }), expClamp(logScale, 100));
}

/**
 * GroupViT's training objective (GROUPVIT.md §1.5): the symmetric image–caption contrastive loss plus, when prompts
 * are given, the multi-label loss of each image against its k noun prompts with its own logit scale.
 * The captions and prompts go through the text tower as one batch, so BatchNorm sees them together as NVlabs does.
 */
export function groupvitLosses(model: GroupViTModel, multiLabelScale: Tensor | null, b: TrainBatch, g: GroupingOptions): Losses {
  const out = model.vision_model.forward(b.pixels, null, g);
  const image = model.visual_projection.forward(out.pooled);
  const k = b.promptIds && multiLabelScale ? b.promptsPerImage : 0;
  const ids = k ? Int32Array.from([...b.captionIds, ...b.promptIds!]) : b.captionIds;
  const rows = b.batch * (1 + k);
  const text = model.encodeText(ids, rows);
  const captions = k ? slice(text, 0, 0, b.batch) : text;
  const eye = Tensor.fromArray(diagonalTargets(b.batch), [b.batch, b.batch]);
  const contrastive = softCrossEntropy2d(scaledCosine(image, captions, model.logit_scale), eye, eye);
  if (!k) return { total: contrastive, contrastive, multiLabel: null };
  const prompts = slice(text, 0, b.batch, b.batch * k);
  const t = b.promptKeys ? sharedKeyTargets(b.batch, k, b.promptKeys) : multiLabelTargets(b.batch, k);
  const multiLabel = softCrossEntropy2d(
    scaledCosine(image, prompts, multiLabelScale!),
    Tensor.fromArray(t.rows, [b.batch, b.batch * k]),
    Tensor.fromArray(t.cols, [b.batch, b.batch * k]),
  );
  return { total: add(contrastive, multiLabel), contrastive, multiLabel };
}
