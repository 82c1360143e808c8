/**
 * Targets of the matched noun loss (model/losses.ts matchedNounLoss): each image's nouns go to distinct final groups,
 * by the one-to-one matching with the highest total score. The per-group multi-label loss scores a noun by the image's
 * best group, and one group (the backdrop's, in the tiny models) can be every noun's best: nothing there asks the
 * image's other groups to differ from it. With a matching, two nouns of one image cannot share a group, and a noun's
 * column has the image's unmatched groups among its negatives.
 */

/**
 * The assignment of nouns to distinct groups with the highest summed score (exhaustive: an image has a few nouns and
 * groups). Where an image has more nouns than groups, the extra nouns stay unmatched (-1). Ties go to the lower group.
 *   score:[N, G] (noun n, group g) -> per noun its group or -1
 */
export function bestMatching(score: ArrayLike<number>, nouns: number, groups: number): Int32Array {
  const best = new Int32Array(nouns).fill(-1);
  const cur = new Int32Array(nouns).fill(-1);
  const used = new Uint8Array(groups);
  let bestTotal = -Infinity;
  const matchable = Math.min(nouns, groups);
  const visit = (n: number, matched: number, total: number) => {
    if (n === nouns) {
      if (matched === matchable && total > bestTotal) {
        bestTotal = total;
        best.set(cur);
      }
      return;
    }
    for (let g = 0; g < groups; g++) {
      if (used[g]) continue;
      used[g] = 1;
      cur[n] = g;
      visit(n + 1, matched + 1, total + score[n * groups + g]);
      used[g] = 0;
    }
    // leave this noun out only while the rest can still fill every group
    if (nouns - n - 1 >= matchable - matched) {
      cur[n] = -1;
      visit(n + 1, matched, total);
    }
  };
  visit(0, 0, 0);
  return best;
}

export interface MatchedTargets {
  /** [B·G, M]: a matched group's row spreads 1 over its noun's prompts; unmatched groups' rows are zero. */
  rows: Float32Array;
  /** [B·G, M]: a prompt's column spreads 1 over the groups matched to its noun in the images owning it. */
  cols: Float32Array;
  /** Per image, per owned noun (imageKeys order), the matched group or -1. */
  groupOf: Int32Array[];
}

/**
 * Matches every image's nouns to its groups by the mean score of each noun's prompts, and makes the targets. A group
 * held out (heldOut[i] ≥ 0, the image's backdrop: backdropGroups) takes no noun and stays among every noun's negatives.
 *   logits:[B·G, M] (groups image-major), imageKeys: per image its nouns, promptKeys: per prompt its noun
 */
export function matchedNounTargets(logits: Float32Array, groups: number, imageKeys: readonly (readonly string[])[], promptKeys: readonly string[], heldOut?: Int32Array | null): MatchedTargets {
  const b = imageKeys.length;
  const m = promptKeys.length;
  if (logits.length !== b * groups * m) throw new Error(`matchedNounTargets: ${logits.length} logits for [${b}·${groups}, ${m}]`);
  const columnsOf = new Map<string, number[]>();
  promptKeys.forEach((key, j) => {
    const list = columnsOf.get(key);
    if (list) list.push(j);
    else columnsOf.set(key, [j]);
  });
  const groupOf = imageKeys.map((keys, i) => {
    const nouns = [...new Set(keys)].filter((key) => columnsOf.has(key));
    const free = Array.from({ length: groups }, (_, g) => g).filter((g) => g !== heldOut?.[i]);
    const score = new Float64Array(nouns.length * free.length);
    nouns.forEach((key, n) => {
      const cols = columnsOf.get(key)!;
      free.forEach((g, f) => {
        let s = 0;
        for (const j of cols) s += logits[(i * groups + g) * m + j];
        score[n * free.length + f] = s / cols.length;
      });
    });
    const match = bestMatching(score, nouns.length, free.length);
    const byNoun = new Map(nouns.map((key, n) => [key, match[n] < 0 ? -1 : free[match[n]]]));
    return Int32Array.from(keys, (key) => byNoun.get(key) ?? -1);
  });
  return targetsFromGroups(groupOf, groups, imageKeys, promptKeys);
}

/**
 * Per image, the group that holds most of the border's patches: the backdrop, on the prior that objects rarely fill the
 * image's edge (the generated world's objects span 30–60% of its side at random places).
 *   assignment:[B, H·W, G] (each patch's soft final group), grid H×W -> per image a group
 */
export function backdropGroups(assignment: Float32Array, batch: number, gridH: number, gridW: number, groups: number): Int32Array {
  const l = gridH * gridW;
  if (assignment.length !== batch * l * groups) throw new Error(`backdropGroups: ${assignment.length} values for [${batch}, ${l}, ${groups}]`);
  const out = new Int32Array(batch);
  const mass = new Float64Array(groups);
  for (let i = 0; i < batch; i++) {
    mass.fill(0);
    for (let y = 0; y < gridH; y++) {
      for (let x = 0; x < gridW; x++) {
        if (y > 0 && y < gridH - 1 && x > 0 && x < gridW - 1) continue;
        const at = (i * l + y * gridW + x) * groups;
        for (let g = 0; g < groups; g++) mass[g] += assignment[at + g];
      }
    }
    let best = 0;
    for (let g = 1; g < groups; g++) if (mass[g] > mass[best]) best = g;
    out[i] = best;
  }
  return out;
}

/**
 * The matched and grounded noun losses' targets from each image's nouns' groups (groupOf, in imageKeys order, -1:
 * none): a group's row spreads 1 over its noun's prompts, a prompt's column over the groups of its noun in the batch.
 * A noun's first occurrence in an image counts; two nouns of one image must not share a group.
 */
export function targetsFromGroups(groupOf: Int32Array[], groups: number, imageKeys: readonly (readonly string[])[], promptKeys: readonly string[]): MatchedTargets {
  const b = imageKeys.length;
  const m = promptKeys.length;
  const columnsOf = new Map<string, number[]>();
  promptKeys.forEach((key, j) => {
    const list = columnsOf.get(key);
    if (list) list.push(j);
    else columnsOf.set(key, [j]);
  });
  const rows = new Float32Array(b * groups * m);
  const cols = new Float32Array(b * groups * m);
  const matchedRowsOf = new Map<string, number[]>();
  imageKeys.forEach((keys, i) =>
    keys.forEach((key, n) => {
      const g = groupOf[i][n];
      if (g < 0 || keys.indexOf(key) !== n || !columnsOf.has(key)) return;
      const row = i * groups + g;
      const list = matchedRowsOf.get(key);
      if (list) list.push(row);
      else matchedRowsOf.set(key, [row]);
      const colsOfKey = columnsOf.get(key)!;
      for (const j of colsOfKey) rows[row * m + j] = 1 / colsOfKey.length;
    }),
  );
  promptKeys.forEach((key, j) => {
    const owners = matchedRowsOf.get(key) ?? [];
    for (const row of owners) cols[row * m + j] = 1 / owners.length;
  });
  return { rows, cols, groupOf };
}

/**
 * A group grounds a noun when it and the noun's pixels overlap by at least this IoU: below it, the best group is a
 * sliver of the object or the object a sliver of the group (the backdrop's, which holds most of every image), and
 * naming it after the noun would teach the echo this loss is against.
 */
export const MIN_GROUNDING_IOU = 0.2;

/**
 * Per image, per key of imageKeys, the final group its pixels ground it in (train/colour-grounding.ts) or -1: the
 * one-to-one assignment of keys to groups with the highest summed IoU between each key's pixel weights and each
 * group's soft share of the patches, over pairs at MIN_GROUNDING_IOU or more.
 *   assignment:[B, L, G] (each patch's soft final group), weights: per image [keys_i, L]
 */
export function groundedGroups(assignment: Float32Array, weights: readonly Float32Array[], imageKeys: readonly (readonly string[])[], groups: number, minIoU = MIN_GROUNDING_IOU): Int32Array[] {
  const b = imageKeys.length;
  const l = assignment.length / (b * groups);
  if (!Number.isInteger(l)) throw new Error(`groundedGroups: ${assignment.length} values for ${b} images of ${groups} groups`);
  return imageKeys.map((keys, i) => {
    const w = weights[i];
    if (!w || w.length !== keys.length * l) throw new Error(`groundedGroups: image ${i} has ${w?.length ?? 0} weights for ${keys.length} keys of ${l} patches`);
    const size = new Float64Array(groups);
    for (let t = 0; t < l; t++) for (let g = 0; g < groups; g++) size[g] += assignment[(i * l + t) * groups + g];
    const iou = new Float64Array(keys.length * groups);
    keys.forEach((_, k) => {
      let area = 0;
      const inter = new Float64Array(groups);
      for (let t = 0; t < l; t++) {
        const wt = w[k * l + t];
        if (!wt) continue;
        area += wt;
        for (let g = 0; g < groups; g++) inter[g] += wt * assignment[(i * l + t) * groups + g];
      }
      for (let g = 0; g < groups; g++) {
        const v = area > 0 ? inter[g] / (area + size[g] - inter[g]) : 0;
        // pairs under the bar score below nothing, so the matching leaves them out
        iou[k * groups + g] = v >= minIoU ? v : -1e6;
      }
    });
    const match = bestMatching(iou, keys.length, groups);
    return Int32Array.from(match, (g, k) => (g >= 0 && iou[k * groups + g] >= minIoU ? g : -1));
  });
}
