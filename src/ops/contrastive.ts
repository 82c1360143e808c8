import { Tensor } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, run } from './dispatch.js';
import { mul } from './elementwise.js';

/** The loss kernels write d loss / d logits beside the loss (the loss ends the graph): the tape scales it by the incoming gradient. */
function withGradient(logits: Tensor, grad: Tensor, loss: Tensor): Tensor {
  if (!logits.requiresGrad) {
    grad.release();
    return loss;
  }
  record([logits], loss, (g) => [mul(grad, g)]);
  return loss;
}

/**
 * loss = ½·(mean over rows of CE(softmax(row), rowTargets) + mean over columns of CE(softmax(column), colTargets))
 *   logits:[N, M], rowTargets:[N, M] (rows sum to 1), colTargets:[N, M] (columns sum to 1) -> loss:[1]
 */
export function softCrossEntropy2d(logits: Tensor, rowTargets: Tensor, colTargets: Tensor): Tensor {
  const [n, m] = logits.shape;
  const grad = Tensor.empty([n, m]);
  const parts = Tensor.empty([n + m]);
  const loss = Tensor.empty([1]);
  const rows = [logits.buffer, rowTargets.buffer, null, grad.buffer, parts.buffer];
  const cols = [logits.buffer, null, colTargets.buffer, grad.buffer, parts.buffer];
  run({ file: 'contrastive', entry: 'contrastive_rows', uniforms: [n, m], buffers: rows, workgroups: grid1d(n, 64) });
  run({ file: 'contrastive', entry: 'contrastive_cols', uniforms: [n, m], buffers: cols, workgroups: grid1d(m, 64) });
  run({ file: 'contrastive', entry: 'contrastive_total', uniforms: [n, m], buffers: [null, null, null, null, parts.buffer, loss.buffer], workgroups: [1] });
  parts.release();
  return withGradient(logits, grad, loss);
}

/**
 * loss = mean over rows of −log Σ_{j positive} softmax(row)_j: each row puts its mass on any of its positives, a
 * multiple-instance cross-entropy over the columns (a row without positives adds 0 but counts in the mean).
 *   logits:[N, M], positives:[N, M] (> 0 marks a positive) -> loss:[1]
 */
export function presenceCrossEntropy(logits: Tensor, positives: Tensor): Tensor {
  const [n, m] = logits.shape;
  const grad = Tensor.empty([n, m]);
  const parts = Tensor.empty([n]);
  const loss = Tensor.empty([1]);
  run({ file: 'contrastive', entry: 'presence_rows', uniforms: [n, m], buffers: [logits.buffer, positives.buffer, null, grad.buffer, parts.buffer], workgroups: grid1d(n, 64) });
  run({ file: 'contrastive', entry: 'presence_total', uniforms: [n, m], buffers: [null, null, null, null, parts.buffer, loss.buffer], workgroups: [1] });
  parts.release();
  return withGradient(logits, grad, loss);
}

/** Targets of the image–text loss: the i-th image matches the i-th text. */
export function diagonalTargets(n: number): Float32Array {
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) t[i * n + i] = 1;
  return t;
}

/**
 * Targets of the image–text loss where captions with the same nouns match each other's images: image i and caption j
 * are a positive pair when i = j or both images own the same non-empty set of keys (their captions' nouns). A batch
 * of a world with 8 shapes holds many captions that name the same shapes in other words ("a star and a circle",
 * "there is a circle next to a star"); the paper's diagonal makes each the other's negative, a target no image can
 * meet, since the captions differ only in words that say nothing of the image. The matrix is symmetric, so rows and
 * columns take the same targets: 1/n on each of the n positives.   owners:[B] -> [B, B]
 */
export function sameKeysTargets(owners: readonly (readonly string[])[]): Float32Array {
  const n = owners.length;
  const keyOf = owners.map((o) => (o.length ? [...new Set(o)].sort().join('\u0000') : null));
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const same = (j: number) => i === j || (keyOf[i] !== null && keyOf[i] === keyOf[j]);
    let count = 0;
    for (let j = 0; j < n; j++) if (same(j)) count++;
    for (let j = 0; j < n; j++) if (same(j)) t[i * n + j] = 1 / count;
  }
  return t;
}

/**
 * Targets of the multi-label loss (GROUPVIT.md §1.5): images [B] against prompts [B·k] owned k per image.
 * Rows (image→prompts): 1/k on the image's own prompts. Columns (prompt→images): one-hot on its owner.
 */
export function multiLabelTargets(b: number, k: number): { rows: Float32Array; cols: Float32Array } {
  const m = b * k;
  const rows = new Float32Array(b * m);
  const cols = new Float32Array(b * m);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < k; j++) {
      rows[i * m + i * k + j] = 1 / k;
      cols[i * m + i * k + j] = 1;
    }
  return { rows, cols };
}

/**
 * De-duplicated multi-label targets: a prompt counts as a positive of every image that owns a prompt with the same
 * key (its noun), not only of the image it was drawn for. With a handful of nouns per batch the paper's one-owner
 * targets make identical prompts each other's negatives (TRAINING-NOTES.md); here rows spread 1 over every prompt
 * whose key the image owns, and columns over every image that owns the prompt's key.
 */
export function sharedKeyTargets(b: number, k: number, keys: readonly string[]): { rows: Float32Array; cols: Float32Array } {
  return ownedKeyTargets(Array.from({ length: b }, (_, i) => keys.slice(i * k, i * k + k)), keys);
}

/**
 * The same targets for any prompt set: image i owns the keys owners[i]; prompt j has key keys[j]. An image owning
 * no prompt's key (or a prompt no image owns) gets an all-zero row (column): it adds nothing to the loss.
 *   -> rows, cols: [B, M]
 */
export function ownedKeyTargets(owners: readonly (readonly string[])[], keys: readonly string[]): { rows: Float32Array; cols: Float32Array } {
  const b = owners.length;
  const m = keys.length;
  const owns = owners.map((o) => new Set(o));
  const pos = (i: number, j: number) => owns[i].has(keys[j]);
  const rows = new Float32Array(b * m);
  const cols = new Float32Array(b * m);
  for (let i = 0; i < b; i++) {
    let n = 0;
    for (let j = 0; j < m; j++) if (pos(i, j)) n++;
    for (let j = 0; j < m; j++) if (pos(i, j)) rows[i * m + j] = 1 / n;
  }
  for (let j = 0; j < m; j++) {
    let n = 0;
    for (let i = 0; i < b; i++) if (pos(i, j)) n++;
    for (let i = 0; i < b; i++) if (pos(i, j)) cols[i * m + j] = 1 / n;
  }
  return { rows, cols };
}
