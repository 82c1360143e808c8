// Zero-shot segmentation of one RGB image with any class names (GROUPVIT.md §2): the image is resized as the mmseg
// test pipeline does, scored whole or in sliding windows (each window: the image encoder's soft group maps, the
// group–class affinity of zero-shot.ts, the background rule), the scores averaged and resized to the original size.
// A Segmenter loads the model once and keeps the class text embeddings of every class list it has seen.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { initGpu, gpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { tidyAsync } from '../tensor/tensor.js';
import { noGrad } from '../tensor/tape.js';
import { readConfig, type GroupViTConfig } from '../model/config.js';
import { GroupViTModel } from '../model/groupvit.js';
import { loadWeights } from '../model/load.js';
import { loadTokenizer, type Tokenizer } from '../data/tokenizer/index.js';
import { fillTemplate, SIMPLE_IMAGENET_TEMPLATES } from '../data/templates.js';
import { cropImage, resizeBilinear, type RgbImage } from '../io/image.js';
import { UserError } from '../util/errors.js';
import { borderGroups, meanOverTemplates, featureGrid, upsampledGroupMap, validBorderShare, zeroShotSegment, type BackgroundRule } from './zero-shot.js';
import { namedAlone } from './isolate.js';
import { encodeBatch } from '../train/evaluate.js';
import { bgThreshForCount, modelCalibration, type BgCalibration } from '../train/calibrate.js';
import { pamrRefineGpu, type Refine } from './pamr.js';
import { viewSize, type Augment } from './dihedral.js';
import { shiftedViewImage, testViews, ViewAverage, type View } from './views.js';
import { GroupCanvas, rescaleSize, resizeArgmax, resizeNearest, resizeScores, slideInference, slideWindows, type Window } from './slide.js';

export type Protocol = 'paper' | 'fast';
export type Mode = 'whole' | 'slide';

/** The class list's text prompts default to the paper's segmentation template set ("simple"). */
export const DEFAULT_TEMPLATES: readonly string[] = SIMPLE_IMAGENET_TEMPLATES;
/** VOC's and COCO-Object's background threshold (Context uses 0.35). */
export const DEFAULT_BG_THRESH = 0.95;
/** mmseg's Resize(img_scale=(2048, 448)): the long side is capped at 2048/448 of the short side's target. */
const LONG_OVER_SHORT = 2048 / 448;
/** Class indices are stored in one byte, 0 being the background. */
export const MAX_CLASSES = 255;

export interface SegmentOptions {
  /** paper: short side 448, 448² windows with stride 224; fast: one whole pass at the model's image size. Default:
   *  paper for models trained at 224 px or more (the official ones), fast for smaller ones. */
  protocol?: Protocol;
  mode?: Mode;
  /** Short side of the resized image, and the window size in slide mode. */
  size?: number;
  /** Slide stride (default: half the window). */
  stride?: number;
  bgThresh?: number;
  /** The border rule's share (zero-shot.ts borderGroups); null: the paper's threshold alone; absent: the model's own. */
  bgBorder?: number | null;
  /** Image-level top-k gate (NVlabs: 5). */
  topk?: number;
  /** The group maps moved onto the image's colour edges (pamr.ts); absent: the model's calibrated choice, else none. */
  refine?: Refine;
  /** Each object group also named from an image of it alone (isolate.ts). Default off. */
  isolate?: boolean;
}

export interface Settings {
  protocol: Protocol;
  mode: Mode;
  size: number;
  stride: number;
  bgThresh: number;
  bgBorder: number | null;
  topk: number;
  refine: Refine;
  isolate: boolean;
}

/** The most pixels a batched pass over the views of one image takes: one paper window's (448²). */
const BATCH_PIXELS = 448 * 448;

/** The items in groups of equal key (a size: what one batched pass can take together), in the order first seen. */
function groupedBy<T>(items: readonly T[], key: (t: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const t of items) groups.set(key(t), [...(groups.get(key(t)) ?? []), t]);
  return [...groups.values()];
}

/** The paper's background rule: its VOC threshold, no border rule. */
export const PAPER_BACKGROUND: BackgroundRule = { bgThresh: DEFAULT_BG_THRESH, bgBorder: null };

/**
 * The settings of a call: the options given, else the protocol's defaults (`background`: the model's calibrated rule,
 * if any; `refine`: the refinement it was calibrated with).
 */
export function resolveSettings(config: GroupViTConfig, opts: SegmentOptions = {}, background: BackgroundRule = PAPER_BACKGROUND, refine: Refine = 'none', isolate = false): Settings {
  const imageSize = config.vision_config.image_size;
  const protocol: Protocol = opts.protocol ?? (imageSize >= 224 ? 'paper' : 'fast');
  const mode: Mode = opts.mode ?? (protocol === 'paper' ? 'slide' : 'whole');
  const size = opts.size ?? (protocol === 'paper' ? 448 : imageSize);
  if (!(Number.isInteger(size) && size >= config.vision_config.patch_size)) {
    throw new UserError(`The size must be a whole number of pixels of at least the patch size ${config.vision_config.patch_size}, not ${size}.`);
  }
  const stride = opts.stride ?? Math.max(1, Math.floor(size / 2));
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= size)) throw new UserError(`The stride must be a whole number of pixels from 1 to the size ${size}, not ${stride}.`);
  const bgThresh = opts.bgThresh ?? background.bgThresh;
  if (!(bgThresh >= 0 && bgThresh <= 1)) throw new UserError(`The background threshold must lie between 0 and 1, not ${bgThresh}.`);
  const bgBorder = opts.bgBorder === undefined ? background.bgBorder : opts.bgBorder;
  if (!validBorderShare(bgBorder)) throw new UserError(`The border rule's share must lie above 0 and at most 1, not ${bgBorder}.`);
  return { protocol, mode, size, stride, bgThresh, bgBorder, topk: opts.topk ?? 5, refine: opts.refine ?? refine, isolate: opts.isolate ?? isolate };
}

/** Where the model sees an image: its resized size (w, h) and the largest piece fed at once. */
export function plan(config: GroupViTConfig, settings: Settings, width: number, height: number): { resized: [number, number]; pass: [number, number] } {
  const p = config.vision_config.patch_size;
  const resized = rescaleSize(width, height, settings.size, Math.round(settings.size * LONG_OVER_SHORT), p);
  const pass: [number, number] = settings.mode === 'whole' ? resized : [Math.min(settings.size, resized[0]), Math.min(settings.size, resized[1])];
  return { resized, pass };
}

/**
 * The largest GPU buffer (bytes) one image encoder pass over a w×h input needs: the pixels, the patch matrix, and
 * the stage-0 token activations (tokens × the widest of the MLP, the fused qkv and the patch size). Attention is
 * fused, so nothing grows with the square of the token count.
 */
export function largestBufferBytes(config: GroupViTConfig, width: number, height: number): number {
  const v = config.vision_config;
  const p = v.patch_size;
  const n = Math.floor(width / p) * Math.floor(height / p);
  const tokens = n + (v.num_group_tokens[0] ?? 0);
  const floats = Math.max(3 * width * height, n * 3 * p * p, tokens * Math.max(v.intermediate_size, 4 * v.hidden_size));
  return floats * 4;
}

export interface ClassStat {
  /** 0 is the background, then the classes in the order given. */
  index: number;
  name: string;
  pixels: number;
  /** Fraction of the original image's pixels. */
  share: number;
  /** Mean over the class's pixels of its final score (foreground: the group–class affinity, averaged over
   *  windows; background: the fraction of windows that called the pixel background, with test-time views 1). 0 when absent. */
  meanScore: number;
}

export interface Segmentation {
  width: number;
  height: number;
  classes: string[];
  /** [height·width] class index per pixel of the original image: 0 background, k the k-th class. */
  mask: Uint8Array;
  /** [height·width] group label per pixel (window·G + group, see GroupCanvas). */
  groups: Int32Array;
  stats: ClassStat[];
  settings: Settings;
  resized: [number, number];
  windows: number;
}

/** One window's image-encoder outputs on the host (Segmenter.forwardWindow). */
interface WindowForward {
  softs: Float32Array[];
  shapes: [number, number][];
  grid: [number, number];
  groupEmbeds: Float32Array;
  imageEmbed: Float32Array;
  width: number;
  height: number;
  /** The window's pixels, for the refinement. */
  piece: RgbImage;
  /** Its final group maps refined on the window's colour edges, once asked for (they depend on nothing else). */
  refined?: Float32Array;
  /** Its group–class scores with the object groups named alone, for these class embeddings, border rule and refinement. */
  alone?: { classEmb: Float32Array; bgBorder: number | null; refine: Refine; affinity: Float64Array };
}

export interface SegmenterSource {
  /** Folder with config.json, the weights and the tokenizer files, or a weights file with config.json beside it. */
  weights: string;
  /** A configuration chosen by the caller (e.g. --config/--preset for an NVlabs .pth); default: config.json beside. */
  config?: GroupViTConfig;
  gpu?: AdapterOptions;
}

/** Finds config.json, the weights and the tokenizer folder of a --weights path; missing pieces are UserErrors. */
export function resolveWeights(path: string, haveConfig = false): { config: string; weights: string; tokenizerDir: string } {
  if (!existsSync(path)) throw new UserError(`The weights ${path} do not exist: pass --weights with a model folder (config.json and model.safetensors).`);
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const config = join(dir, 'config.json');
  if (!haveConfig && !existsSync(config)) throw new UserError(`The model folder ${dir} has no config.json, so the weights in it cannot be used.`);
  if (isDir && !['model.safetensors', 'pytorch_model.bin'].some((f) => existsSync(join(dir, f)))) {
    throw new UserError(`The model folder ${dir} holds neither model.safetensors nor pytorch_model.bin.`);
  }
  return { config, weights: path, tokenizerDir: dir };
}

export class Segmenter {
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    readonly model: GroupViTModel,
    readonly tokenizer: Tokenizer,
    /** The model folder's calibrated background threshold (train/calibrate.ts), if it has one. */
    readonly calibration?: BgCalibration,
  ) {}

  /** The background threshold of a call that gives none: the one calibrated for lists of this length, else the paper's. */
  bgThreshFor(classCount: number): number {
    return bgThreshForCount(this.calibration, classCount) ?? DEFAULT_BG_THRESH;
  }

  /** The background rule of a call that gives none: that threshold, and the model's calibrated border rule (any list length). */
  backgroundFor(classCount: number): BackgroundRule {
    return { bgThresh: this.bgThreshFor(classCount), bgBorder: this.calibration?.bgBorder ?? null };
  }

  /** The refinement of a call that gives none: the one the model's rule was calibrated with, else none. */
  get refineDefault(): Refine {
    return this.calibration?.refine ?? 'none';
  }

  /** The test-time views of a call that names none: the ones the model's rule was calibrated with, else none. */
  get augmentDefault(): Augment {
    return this.calibration?.augment ?? 'none';
  }

  /** Whether a call that does not say names object groups alone: as the model's rule was calibrated, else not. */
  get isolateDefault(): boolean {
    return this.calibration?.isolate ?? false;
  }

  get config(): GroupViTConfig {
    return this.model.config;
  }

  /** Opens the GPU (if not yet), builds the model, loads its weights and tokenizer, and prepares inference. */
  static async load(src: SegmenterSource): Promise<Segmenter> {
    const where = resolveWeights(src.weights, src.config !== undefined);
    const config = src.config ?? readConfig(where.config);
    const calibration = existsSync(where.config) ? modelCalibration(where.config) : undefined;
    const tokenizer = loadTokenizer(where.tokenizerDir, config);
    await initGpu(src.gpu);
    const model = new GroupViTModel(config);
    try {
      await loadWeights(model, where.weights);
      await model.prepareInference();
    } catch (e) {
      model.release();
      throw e;
    }
    return new Segmenter(model, tokenizer, calibration);
  }

  release(): void {
    this.model.release();
    this.cache.clear();
  }

  /**
   * L2-normalised class embeddings [K, P]: each class's prompt embedding (unnormalised projection) averaged over the
   * templates, then normalised (NVlabs build_text_embedding). Cached per class list and template list.
   */
  async classEmbeddings(classes: readonly string[], templates: readonly string[] = DEFAULT_TEMPLATES): Promise<Float32Array> {
    const key = JSON.stringify([classes, templates]);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const K = classes.length;
    const T = templates.length;
    const P = this.config.projection_dim;
    const ctx = this.tokenizer.contextLength;
    const rows = K * T;
    const raw = new Float32Array(rows * P);
    const CHUNK = 256;
    await this.frozen(async () => {
      for (let r0 = 0; r0 < rows; r0 += CHUNK) {
        const n = Math.min(CHUNK, rows - r0);
        const ids = new Int32Array(n * ctx);
        for (let i = 0; i < n; i++) {
          const r = r0 + i;
          ids.set(this.tokenizer.encode(fillTemplate(templates[r % T], classes[Math.floor(r / T)])), i * ctx);
        }
        const out = await tidyAsync(async () => noGrad(() => this.model.encodeText(ids, n)).toArray());
        raw.set(out, r0 * P);
      }
    });
    const emb = meanOverTemplates(raw, K, T);
    this.cache.set(key, emb);
    return emb;
  }

  /** Throws a UserError naming a size that works when a pass over this image would exceed the adapter's buffers. */
  checkFits(image: { width: number; height: number }, settings: Settings, name = 'The image'): void {
    const limit = Math.min(gpu().limits.maxStorageBufferBindingSize, gpu().limits.maxBufferSize);
    const fits = (s: Settings) => {
      const { pass } = plan(this.config, s, image.width, image.height);
      return largestBufferBytes(this.config, pass[0], pass[1]) <= limit;
    };
    if (fits(settings)) return;
    const { resized, pass } = plan(this.config, settings, image.width, image.height);
    const need = largestBufferBytes(this.config, pass[0], pass[1]);
    let lo = this.config.vision_config.patch_size;
    let hi = settings.size;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits({ ...settings, size: mid, stride: Math.min(settings.stride, mid) })) lo = mid;
      else hi = mid - 1;
    }
    const mb = (b: number) => `${Math.ceil(b / 2 ** 20)} MB`;
    throw new UserError(
      `${name} is far too large for this adapter: resized to ${resized[0]}x${resized[1]} a ${settings.mode} pass over ${pass[0]}x${pass[1]} pixels needs a ${mb(need)} GPU buffer, above its ${mb(limit)} limit; --size ${lo} or less works${settings.mode === 'whole' ? ', or use --mode slide' : ''}.`,
    );
  }

  /** Segments one image into background + `classes` at the image's own size. */
  async segment(image: RgbImage, classes: readonly string[], opts: SegmentOptions & { templates?: readonly string[]; name?: string; augment?: Augment } = {}): Promise<Segmentation> {
    const settings = resolveSettings(this.config, opts, this.backgroundFor(classes.length), this.refineDefault, this.isolateDefault);
    const job = await this.prepare(image, classes, settings, opts);
    const groups = new GroupCanvas(job.rh, job.rw);
    const views = testViews(opts.augment ?? this.augmentDefault, this.config.vision_config.patch_size);
    const scores = views.length > 1 ? await this.averageViews(job, classes, settings, opts, views, groups) : await this.scores(job, settings, new Map(), groups);
    const { pred, pixels, scoreSum } = resizeArgmax(scores, classes.length + 1, job.rh, job.rw, image.height, image.width);
    const total = image.width * image.height;
    const names = ['background', ...classes];
    const stats = names.map((name, index) => ({
      index,
      name,
      pixels: pixels[index],
      share: pixels[index] / total,
      meanScore: pixels[index] ? scoreSum[index] / pixels[index] : 0,
    }));
    return {
      width: image.width,
      height: image.height,
      classes: [...classes],
      mask: pred,
      groups: resizeNearest(groups.labels, job.rh, job.rw, image.height, image.width),
      stats,
      settings,
      resized: job.resized,
      windows: job.windows.length,
    };
  }

  /**
   * The masks segment() gives under each of these background rules with the image alone (test-time views 'none'), from
   * one forward pass per window for all of them (the rule only enters after the image encoder): what calibrating the
   * rule on labelled images reads.
   */
  async masksAtRules(image: RgbImage, classes: readonly string[], rules: readonly BackgroundRule[], opts: SegmentOptions & { templates?: readonly string[]; name?: string } = {}): Promise<Uint8Array[]> {
    const base = resolveSettings(this.config, opts, this.backgroundFor(classes.length), this.refineDefault, this.isolateDefault);
    const job = await this.prepare(image, classes, base, opts);
    const forwards = new Map<number, WindowForward>();
    const masks: Uint8Array[] = [];
    for (const rule of rules) {
      const settings = resolveSettings(this.config, { ...opts, ...rule }, PAPER_BACKGROUND, this.refineDefault, this.isolateDefault);
      const scores = await this.scores(job, settings, forwards, null);
      masks.push(resizeArgmax(scores, classes.length + 1, job.rh, job.rw, image.height, image.width).pred);
    }
    return masks;
  }

  /**
   * Test-time views (views.ts): each view of the resized image segmented as an image of its own with its border rule
   * alone, mapped back and averaged, then the threshold on the average.   -> [K+1, rh, rw]
   */
  private async averageViews(job: Awaited<ReturnType<Segmenter['prepare']>>, classes: readonly string[], settings: Settings, opts: { templates?: readonly string[]; name?: string }, views: View[], groups: GroupCanvas): Promise<Float64Array> {
    const C = classes.length + 1;
    const { rh, rw } = job;
    const perView = { ...settings, bgThresh: 0 };
    const avg = new ViewAverage(C, rh, rw);
    const jobs = [job];
    for (const view of views.slice(1)) jobs.push(await this.prepare(shiftedViewImage(job.img, view), classes, settings, opts));
    const forwards = await this.wholeForwards(jobs);
    // what every view's scoring asks first, done for all the views together: the refinement, the naming alone
    const hosts = forwards.flatMap((m) => [...m.values()]);
    if (settings.refine === 'pamr') await this.refineWindows(hosts);
    if (settings.isolate && hosts.length) await this.nameAlone(hosts, job.classEmb, job.K, perView);
    avg.add(await this.scores(job, perView, forwards[0], groups), views[0]);
    for (const [v, view] of views.entries()) {
      if (v === 0) continue;
      const seen = jobs[v];
      const [vh, vw] = viewSize(view, rh, rw);
      const raw = await this.scores(seen, perView, forwards[v], null);
      // a side that rounds differently once turned is stretched onto the turned size of the image's own grid
      avg.add(seen.rh === vh && seen.rw === vw ? raw : resizeScores(raw, C, seen.rh, seen.rw, vh, vw), view);
    }
    return avg.decide(settings.bgThresh);
  }

  /** What every threshold of a call shares: the checked size, the class embeddings, the resized image and its windows. */
  private async prepare(image: RgbImage, classes: readonly string[], settings: Settings, opts: { templates?: readonly string[]; name?: string }) {
    this.checkFits(image, settings, opts.name);
    const classEmb = await this.classEmbeddings(classes, opts.templates ?? DEFAULT_TEMPLATES);
    const { resized } = plan(this.config, settings, image.width, image.height);
    const [rw, rh] = resized;
    const img = rw === image.width && rh === image.height ? image : resizeBilinear(image, rw, rh);
    const windows: Window[] =
      settings.mode === 'whole' ? [{ y1: 0, y2: rh, x1: 0, x2: rw }] : slideWindows(rh, rw, [settings.size, settings.size], [settings.stride, settings.stride]);
    return { classEmb, K: classes.length, resized, rw, rh, img, windows };
  }

  /** [K+1, rh, rw] scores over the windows of a job, each window's forward pass taken from (or kept in) `forwards`. */
  private async scores(job: Awaited<ReturnType<Segmenter['prepare']>>, settings: Settings, forwards: Map<number, WindowForward>, groups: GroupCanvas | null) {
    const { img, rw, rh, windows, classEmb, K } = job;
    return this.frozen(() =>
      slideInference(rh, rw, K + 1, windows, async (win, index) => {
        let host = forwards.get(index);
        if (!host) {
          const piece = windows.length === 1 && win.x2 - win.x1 === rw && win.y2 - win.y1 === rh ? img : cropImage(img, win.x1, win.y1, win.x2 - win.x1, win.y2 - win.y1);
          host = await this.forwardWindow(piece);
          forwards.set(index, host);
        }
        const r = await this.scoreWindow(host, classEmb, K, settings);
        groups?.add(win, index, r.groupsPerWindow, r.groupIndex);
        return r.logits;
      }),
    );
  }

  /**
   * The forward passes of the jobs that are one whole window each, the views of one image, batched by size: one pass
   * and one read-back for many views instead of one each. A batch holds at most a paper window's pixels (448²), so that
   * it needs no more memory than the single window checkFits allowed (BATCH_PIXELS).   -> per job, its window's forward (if whole)
   */
  private async wholeForwards(jobs: Awaited<ReturnType<Segmenter['prepare']>>[]): Promise<Map<number, WindowForward>[]> {
    const forwards = jobs.map(() => new Map<number, WindowForward>());
    const whole = jobs.map((_, i) => i).filter((i) => jobs[i].windows.length === 1);
    for (const members of groupedBy(whole, (i) => `${jobs[i].rw}x${jobs[i].rh}`)) {
      const { rw, rh } = jobs[members[0]];
      const per = Math.max(1, Math.floor(BATCH_PIXELS / (rw * rh)));
      for (let start = 0; start < members.length; start += per) {
        const chunk = members.slice(start, start + per);
        const hosts = await this.forwardWindows(chunk.map((i) => jobs[i].img));
        chunk.forEach((i, k) => forwards[i].set(0, hosts[k]));
      }
    }
    return forwards;
  }

  /** Forward passes of same-sized windows in one batch, read back once and split per window.   B × [H, W] -> B forwards */
  private async forwardWindows(pieces: RgbImage[]): Promise<WindowForward[]> {
    const e = await encodeBatch(this.model, pieces);
    const part = (x: Float32Array, i: number) => x.subarray((i * x.length) / e.size, ((i + 1) * x.length) / e.size);
    return pieces.map((piece, i) => ({
      softs: e.softs.map((s) => part(s, i)),
      shapes: e.shapes,
      grid: e.grid,
      groupEmbeds: part(e.groups, i),
      imageEmbed: part(e.embeds, i),
      width: e.width,
      height: e.height,
      piece,
    }));
  }

  /** One forward pass of the image encoder over a window, read back: the soft group maps and the group embeddings. */
  private async forwardWindow(piece: RgbImage): Promise<WindowForward> {
    return (await this.forwardWindows([piece]))[0];
  }

  /**
   * The pixels a window's maps are scored over: its own, or, for the few sizes where NVlabs' resize_attn_map infers the
   * grid from the token count and the aspect ratio wrongly (the reference fails there), the patch-covered area.
   */
  private frame(host: WindowForward): { exact: boolean; sh: number; sw: number; image: () => RgbImage } {
    const { width: w, height: h } = host;
    const [gh, gw] = host.grid;
    const [fh, fw] = featureGrid(host.shapes[0][1], h, w);
    const exact = fh === gh && fw === gw;
    const p = this.config.vision_config.patch_size;
    const [sh, sw] = exact ? [h, w] : [gh * p, gw * p];
    return { exact, sh, sw, image: () => (exact ? host.piece : resizeBilinear(host.piece, sw, sh)) };
  }

  private frameKey(host: WindowForward): string {
    const { sh, sw } = this.frame(host);
    return `${sw}x${sh}`;
  }

  /**
   * The final group maps of the windows not yet refined, refined on their colour edges (pamr.ts): one GPU pass per
   * size for all of them (the views of one image), at most a paper window's pixels (448²) a pass.
   */
  private async refineWindows(hosts: readonly WindowForward[]): Promise<void> {
    for (const members of groupedBy(hosts.filter((x) => !x.refined), (h) => this.frameKey(h))) {
      const { sh, sw } = this.frame(members[0]);
      const per = Math.max(1, Math.floor(BATCH_PIXELS / (sw * sh)));
      for (let start = 0; start < members.length; start += per) {
        const chunk = members.slice(start, start + per);
        const ups = chunk.map((h) => upsampledGroupMap({ softs: h.softs, softShapes: h.shapes, height: sh, width: sw }));
        const all = new Float32Array(ups.reduce((n, u) => n + u.groupMap.length, 0));
        ups.forEach((u, i) => all.set(u.groupMap, i * u.groupMap.length));
        const out = await pamrRefineGpu(all, ups[0].groups, chunk.map((h) => this.frame(h).image()));
        chunk.forEach((h, i) => (h.refined = out.subarray(i * ups[i].groupMap.length, (i + 1) * ups[i].groupMap.length)));
      }
    }
  }

  /** The zero-shot pipeline's input for a window's forward pass (its maps refined first where the settings ask). */
  private async windowInput(host: WindowForward, classEmb: Float32Array, K: number, s: Settings) {
    const { sh, sw } = this.frame(host);
    if (s.refine === 'pamr' && !host.refined) await this.refineWindows([host]);
    return {
      softs: host.softs,
      softShapes: host.shapes,
      groupEmbeds: host.groupEmbeds,
      imageEmbed: host.imageEmbed,
      classEmbeds: classEmb,
      numClasses: K,
      logitScale: this.model.logitScale,
      height: sh,
      width: sw,
      bgThresh: s.bgThresh,
      bgBorder: s.bgBorder,
      topk: s.topk,
      groupMap: s.refine === 'pamr' ? host.refined : undefined,
    };
  }

  /**
   * The windows' group–class scores with every object group (not a backdrop group of the border rule) named again
   * from an image of it alone (isolate.ts), the cut-outs of all the windows encoded together, each kept with the
   * window for scoreWindow.   -> per window [G, K]
   */
  private async nameAlone(hosts: readonly WindowForward[], classEmb: Float32Array, K: number, s: Settings): Promise<void> {
    // one encoding per size: a turned view of a non-square image has the other shape
    const sizes = groupedBy(hosts, (h) => this.frameKey(h));
    if (sizes.length > 1) {
      for (const members of sizes) await this.nameAlone(members, classEmb, K, s);
      return;
    }
    const items = [];
    for (const host of hosts) {
      const { sh, sw, image } = this.frame(host);
      const seg = zeroShotSegment(await this.windowInput(host, classEmb, K, s));
      const G = host.shapes[host.shapes.length - 1][0];
      const backdrop = s.bgBorder === null ? new Array<boolean>(G).fill(false) : borderGroups(seg.groupIndex, sh, sw, G, s.bgBorder);
      items.push({ image: image(), groupIndex: seg.groupIndex, affinity: seg.affinity, backdrop });
    }
    const named = await namedAlone(this.model, items, classEmb, K);
    hosts.forEach((h, i) => (h.alone = { classEmb, bgBorder: s.bgBorder, refine: s.refine, affinity: named[i] }));
  }

  /** A window's [K+1, h, w] scores (background first) and each pixel's final group, from its forward pass. */
  private async scoreWindow(host: WindowForward, classEmb: Float32Array, K: number, s: Settings) {
    const { width: w, height: h } = host;
    const { exact, sh, sw } = this.frame(host);
    const input = await this.windowInput(host, classEmb, K, s);
    const G = host.shapes[host.shapes.length - 1][0];
    if (s.isolate) {
      // the groups named again from images of each alone, cut from the pixels the maps were scored over (done for all
      // the views of an image together where averageViews asked first)
      const a = host.alone;
      if (!(a && a.classEmb === classEmb && a.bgBorder === s.bgBorder && a.refine === s.refine)) await this.nameAlone([host], classEmb, K, s);
    }
    const seg = zeroShotSegment(s.isolate ? { ...input, affinity: host.alone!.affinity } : input);
    if (exact) return { logits: seg.logits, groupIndex: seg.groupIndex, groupsPerWindow: G };
    return { logits: resizeScores(seg.logits, K + 1, sh, sw, h, w), groupIndex: resizeNearest(seg.groupIndex, sh, sw, h, w), groupsPerWindow: G };
  }

  /** Inference never records a backward: parameters stop asking for gradients while fn runs (restored after). */
  private async frozen<T>(fn: () => Promise<T>): Promise<T> {
    const params = this.model.parameters().filter((t) => t.requiresGrad);
    for (const t of params) t.requiresGrad = false;
    try {
      return await fn();
    } finally {
      for (const t of params) t.requiresGrad = true;
    }
  }
}
