import { IoUMeter } from './iou.js';

/** What `groupvit eval` reports beside the IoUs, to tell apart the ways a GroupViT can fail to segment. */
export interface GroupDiagnostics {
  /** Share of images whose image-level top class (the pooled embedding's) is one of the objects in it. */
  imageTop1: number;
  /**
   * By how many objects (classes) the scene holds: [scenes with n objects, share of their classes among the pooled
   * embedding's top n] per n from 1, where the caller gave the image-level scores. Whether the image is recognised as
   * a whole: far below 1 for n above 1, the tower names one shape of a scene and not the others, which no naming of
   * the groups can make up for (README, Training, sixteenth session).
   */
  imageClassRecallByObjects?: [number, number][];
  /** Final groups that own at least one pixel, per image (of num_output_groups). */
  groupsPerImage: number;
  /** Share of pixels whose group's majority ground-truth label is their own (1: groups never straddle labels). */
  groupPurity: number;
  /** mIoU when every group whose pixels are mostly background is called background and the others keep their names:
   * how well groups are named, with the background rule taken out. */
  oracleBackgroundMIoU: number;
  /**
   * mIoU when every group takes its majority ground-truth label, background included: what the groups could score
   * if they were all named right, the grouping's own ceiling (the 8×8 token grid's is 0.653 on the generated world).
   */
  oracleNamingMIoU: number;
  /**
   * Per object (a class present in an image), the share of its best group's pixels that are the object's, its best
   * group being the one holding most of the object: near 1, the groups follow the objects; near the object's share of
   * the image, they cut the picture without regard to them.
   */
  objectGroupShare: number;
  /**
   * Over the objects of scenes with two or more, the share whose best group (as above) is also another object's best
   * group: objects merged into one group, which one name cannot get right (README, Training, eighteenth session).
   */
  objectsSharingGroup: number;
  /** Share of objects whose best group (as above) is named as the object: the naming, group by group. */
  objectGroupNamed: number;
  /**
   * Share of objects whose best group is named a shape that is nowhere in the image, and share whose best group takes
   * the image-level top class. Models that recognise scenes equally well (imageTop1) differ most here: where the
   * groups take the image's top class, an object's group carries the scene's identity; where they take absent
   * shapes, the group tokens hold the identity jointly and no one group's projection names it (README, Training).
   */
  objectGroupNamedAbsent: number;
  objectGroupNamedImageTop: number;
  /**
   * objectGroupNamed by how many objects (classes) the scene holds: [scenes with n objects, share named right] per n
   * from 1. Near the image-level rate for one object and far below it for three, the groups carry the scene, not
   * their own object (README, Training, eleventh session).
   */
  objectGroupNamedByObjects: [number, number][];
  /**
   * [K, K] counts: row k, an object of class k; column j, its best group named class j. Where the misnaming goes (a
   * heart read as a circle is a shape the model cannot yet tell apart; a heart read as the scene's star is the echo).
   */
  namingConfusion: number[][];
  /**
   * Share of images whose largest mostly-background group is named (no background rule) with a shape that is in the
   * image, over the images that have such a group: well above objectGroupNamed, the backdrop's group carries the
   * scene's identity instead of the objects' own groups (TRAINING-NOTES: where the name lands).
   */
  backgroundGroupNamed: number;
  /** Mean cosine between the class names' text embeddings, off the diagonal: near 1, the text tower cannot tell the
   * names apart and no image feature can be named (the collapse of TRAINING-NOTES). Absent where not measured. */
  classCosine?: number;
  /**
   * Per grouping stage, the mean over tokens of log(top soft assignment / second): the gap between a token's two best
   * groups in logits. Far below the Gumbel noise (~1.8 between two draws), training assigns tokens at random; near 0,
   * the soft maps multiplied across stages give every pixel the same final group.
   */
  assignMargins?: number[];
}

/** Mean off-diagonal cosine of K unit-norm rows [K, P]. */
export function meanClassCosine(emb: ArrayLike<number>, k: number): number {
  const p = emb.length / k;
  let sum = 0;
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      if (i === j) continue;
      let dot = 0;
      for (let d = 0; d < p; d++) dot += emb[i * p + d] * emb[j * p + d];
      sum += dot;
    }
  return k > 1 ? sum / (k * (k - 1)) : 1;
}

/** Sum over the tokens of log(best / second best) of softmaxed assignments soft[B, S, L] (over S), and their count. */
export function assignmentMarginSum(soft: ArrayLike<number>, b: number, s: number, l: number): { sum: number; count: number } {
  let sum = 0;
  for (let i = 0; i < b; i++)
    for (let t = 0; t < l; t++) {
      let first = -Infinity;
      let second = -Infinity;
      for (let g = 0; g < s; g++) {
        const v = soft[(i * s + g) * l + t];
        if (v > first) [first, second] = [v, first];
        else if (v > second) second = v;
      }
      sum += s > 1 ? Math.log(first / Math.max(second, 1e-30)) : 0;
    }
  return { sum, count: b * l };
}

/**
 * Per-image statistics of the final groups against the ground truth. The probes behind TRAINING-NOTES needed these to
 * see *why* a model segments badly: whether it recognises the objects at all (imageTop1), whether its groups collapse
 * (groupsPerImage) or straddle objects and background (groupPurity), or whether only the naming of groups fails
 * (oracleBackgroundMIoU).
 */
export class GroupStats {
  private images = 0;
  private top1Hits = 0;
  private groups = 0;
  private purePixels = 0;
  private pixels = 0;
  private oracle: IoUMeter;
  private oracleNaming: IoUMeter;
  private objects = 0;
  private objectShare = 0;
  private objectNamed = 0;
  private severalObjects = 0;
  private sharing = 0;
  private objectNamedAbsent = 0;
  private objectNamedImageTop = 0;
  private backgroundImages = 0;
  private backgroundNamed = 0;
  private byObjects: { objects: number; named: number }[] = [];
  private recall: { scenes: number; hits: number }[] = [];
  private confusion: number[][];

  constructor(readonly numClasses: number) {
    this.oracle = new IoUMeter(numClasses);
    this.oracleNaming = new IoUMeter(numClasses);
    this.confusion = Array.from({ length: numClasses - 1 }, () => new Array<number>(numClasses - 1).fill(0));
  }

  /**
   * groupIndex: the final group of each pixel; groupClass: each group's best class k (no background rule);
   * mask: truth (0 = background, k + 1 = class k); imageTopClass: the image-level top class k; imageClassScores: the
   * image-level score of every class k, when the recall of the scene's classes is wanted.
   */
  add(groupIndex: Int32Array, groupClass: Int32Array, mask: ArrayLike<number>, imageTopClass: number, imageClassScores?: ArrayLike<number>): void {
    this.images++;
    let present = false;
    for (let q = 0; q < mask.length; q++) if (mask[q] === imageTopClass + 1) present = true;
    if (present) this.top1Hits++;
    const perGroup = new Map<number, Map<number, number>>();
    for (let q = 0; q < groupIndex.length; q++) {
      let counts = perGroup.get(groupIndex[q]);
      if (!counts) perGroup.set(groupIndex[q], (counts = new Map()));
      counts.set(mask[q], (counts.get(mask[q]) ?? 0) + 1);
    }
    this.groups += perGroup.size;
    const backgroundGroups = new Set<number>();
    const majorityLabel = new Map<number, number>();
    for (const [g, counts] of perGroup) {
      let total = 0;
      let majority = 0;
      for (const [label, v] of counts) {
        total += v;
        // the smaller label of equals, whatever the order pixels were met in
        if (v > majority || (v === majority && label < majorityLabel.get(g)!)) majorityLabel.set(g, label);
        majority = Math.max(majority, v);
      }
      this.purePixels += majority;
      if ((counts.get(0) ?? 0) * 2 > total) backgroundGroups.add(g);
    }
    this.pixels += groupIndex.length;
    const best = new Map<number, { group: number; pixels: number }>();
    for (const [g, counts] of perGroup) {
      for (const [label, v] of counts) if (label > 0 && v > (best.get(label)?.pixels ?? 0)) best.set(label, { group: g, pixels: v });
    }
    const n = best.size;
    for (let i = this.byObjects.length; i < n; i++) this.byObjects.push({ objects: 0, named: 0 });
    if (imageClassScores && n > 0) {
      // the n best classes, the smaller index first among equal scores
      const order = Array.from({ length: imageClassScores.length }, (_, k) => k).sort((a, b) => imageClassScores[b] - imageClassScores[a] || a - b);
      for (let i = this.recall.length; i < n; i++) this.recall.push({ scenes: 0, hits: 0 });
      this.recall[n - 1].scenes++;
      this.recall[n - 1].hits += order.slice(0, n).filter((k) => best.has(k + 1)).length;
    }
    if (n > 1) {
      const owners = new Map<number, number>();
      for (const { group } of best.values()) owners.set(group, (owners.get(group) ?? 0) + 1);
      this.severalObjects += n;
      for (const { group } of best.values()) if (owners.get(group)! > 1) this.sharing++;
    }
    for (const [label, { group, pixels }] of best) {
      let total = 0;
      for (const v of perGroup.get(group)!.values()) total += v;
      this.objects++;
      this.objectShare += pixels / total;
      this.byObjects[n - 1].objects++;
      // (a caller may pass fewer classes than names; such an object counts everywhere but here)
      if (label - 1 < this.confusion.length && groupClass[group] < this.confusion.length) this.confusion[label - 1][groupClass[group]]++;
      if (groupClass[group] + 1 === label) {
        this.objectNamed++;
        this.byObjects[n - 1].named++;
      }
      if (!best.has(groupClass[group] + 1)) this.objectNamedAbsent++;
      if (groupClass[group] === imageTopClass) this.objectNamedImageTop++;
    }
    let backdrop = -1;
    let backdropPixels = 0;
    for (const g of backgroundGroups) {
      let total = 0;
      for (const v of perGroup.get(g)!.values()) total += v;
      if (total > backdropPixels) [backdrop, backdropPixels] = [g, total];
    }
    if (backdrop >= 0) {
      this.backgroundImages++;
      if (best.has(groupClass[backdrop] + 1)) this.backgroundNamed++;
    }
    this.oracle.add(groupIndex.map((g) => (backgroundGroups.has(g) ? 0 : groupClass[g] + 1)), mask);
    this.oracleNaming.add(groupIndex.map((g) => majorityLabel.get(g)!), mask);
  }

  report(): GroupDiagnostics {
    return {
      imageTop1: this.top1Hits / Math.max(this.images, 1),
      groupsPerImage: this.groups / Math.max(this.images, 1),
      groupPurity: this.purePixels / Math.max(this.pixels, 1),
      oracleBackgroundMIoU: this.oracle.mean(),
      oracleNamingMIoU: this.oracleNaming.mean(),
      objectGroupShare: this.objectShare / Math.max(this.objects, 1),
      objectsSharingGroup: this.sharing / Math.max(this.severalObjects, 1),
      objectGroupNamed: this.objectNamed / Math.max(this.objects, 1),
      objectGroupNamedAbsent: this.objectNamedAbsent / Math.max(this.objects, 1),
      objectGroupNamedImageTop: this.objectNamedImageTop / Math.max(this.objects, 1),
      objectGroupNamedByObjects: this.byObjects.map((b, i) => [b.objects / (i + 1), b.named / Math.max(b.objects, 1)]),
      ...(this.recall.length ? { imageClassRecallByObjects: this.recall.map((r, i): [number, number] => [r.scenes, r.hits / Math.max(r.scenes * (i + 1), 1)]) } : {}),
      namingConfusion: this.confusion.map((row) => [...row]),
      backgroundGroupNamed: this.backgroundNamed / Math.max(this.backgroundImages, 1),
    };
  }
}
