// `groupvit segment IMAGE... --classes a,b,c`: zero-shot segmentation of any image with any class names. The model
// and the class embeddings are made once for all images; each image gets NAME.mask.png, NAME.overlay.png and
// NAME.groups.png and a summary line per class (or all of it as JSON on stdout with --json).
import { parseRefine, type Refine } from '../segment/pamr.js';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import type { AdapterOptions } from '../gpu/adapter.js';
import { readImage } from '../io/image.js';
import { DEFAULT_TEMPLATES, Segmenter, resolveSettings, type Mode, type Protocol, type SegmentOptions } from '../segment/pipeline.js';
import { checkImageFile, parseClasses, parseTemplates, type ImageInput } from '../segment/inputs.js';
import { writeOutputs, type OutputPaths } from '../segment/render.js';
import { UserError } from '../util/errors.js';
import { resolveConfig } from '../model/source.js';
import { describeRule, parseBorderShare } from '../train/calibrate.js';
import { parseAugment, type Augment } from '../segment/dihedral.js';
import { testViews } from '../segment/views.js';

export interface SegmentCommandOptions extends AdapterOptions {
  classes: string;
  weights?: string;
  out?: string;
  bgThresh?: string | number;
  bgBorder?: string | number;
  template?: string[];
  mode?: string;
  size?: string | number;
  stride?: string | number;
  protocol?: string;
  /** Test-time views (segment/views.ts): none, flip, dihedral, flip+shift or dihedral+shift; default the model's calibrated ones. */
  augment?: string;
  /** Group maps onto the image's colour edges: none or pamr (segment/pamr.ts). */
  refine?: string;
  /** Each object group also named from an image of it alone (segment/isolate.ts). */
  isolate?: boolean;
  json?: boolean;
  /** For weights without a config.json beside them (an NVlabs .pth): a config file or a built-in preset. */
  config?: string;
  preset?: string;
}

export interface ImageReport {
  image: string;
  width: number;
  height: number;
  resized: [number, number];
  windows: number;
  outputs: OutputPaths;
  ms: number;
  classes: { index: number; name: string; pixels: number; share: number; meanScore: number }[];
}

export interface SegmentReport {
  weights: string;
  protocol: Protocol;
  mode: Mode;
  size: number;
  stride: number;
  bgThresh: number;
  bgBorder: number | null;
  augment: Augment;
  refine: Refine;
  classes: string[];
  templates: string[];
  /** GPU, model, weights, tokenizer and class embeddings. */
  startupMs: number;
  images: ImageReport[];
  /** Mean over the images of the time from decoding to the written outputs. */
  perImageMs: number;
  totalMs: number;
}

/** The package root (where package.json is), found upwards from this file in src/ or dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'groupvit') return dir;
    } catch {
      /* keep looking upwards */
    }
  }
  return process.cwd();
}

export const DEFAULT_WEIGHTS = 'models/shapes-tiny';

function num(v: string | number | undefined, what: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const x = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(x) || (integer && !Number.isInteger(x)) || String(v).trim() === '') {
    throw new UserError(`${what} must be ${integer ? 'a whole number' : 'a number'}, not '${v}'.`);
  }
  return x;
}

function choice<T extends string>(v: string | undefined, what: string, options: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!options.includes(v as T)) throw new UserError(`${what} must be one of ${options.join(', ')}, not '${v}'.`);
  return v as T;
}

/** Runs the command; writes its report to stdout (text or JSON) and returns it. */
export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

export async function segmentCommand(
  images: string[],
  opts: SegmentCommandOptions,
  io: Streams = { stdout: process.stdout, stderr: process.stderr },
): Promise<SegmentReport> {
  const t0 = performance.now();
  if (!images.length) throw new UserError('Name at least one image to segment.');
  const classes = parseClasses(opts.classes ?? '');
  const templates = parseTemplates(opts.template, DEFAULT_TEMPLATES);
  const augmentOpt = opts.augment === undefined ? undefined : parseAugment(opts.augment);
  const segOpts: SegmentOptions = {
    protocol: choice(opts.protocol, '--protocol', ['paper', 'fast'] as const),
    mode: choice(opts.mode, '--mode', ['whole', 'slide'] as const),
    size: num(opts.size, '--size', true),
    stride: num(opts.stride, '--stride', true),
    bgThresh: num(opts.bgThresh, '--bg-thresh', false),
    bgBorder: parseBorderShare(opts.bgBorder === undefined ? undefined : String(opts.bgBorder)),
    refine: parseRefine(opts.refine),
    isolate: opts.isolate,
  };

  // every image is checked (present, readable, PNG/JPEG, size) before the model loads
  const inputs: ImageInput[] = images.map(checkImageFile);
  const targets = new Map<string, string>();
  const outDirs = inputs.map((inp) => (opts.out ? resolve(opts.out) : dirname(resolve(inp.path))));
  inputs.forEach((inp, i) => {
    const key = join(outDirs[i], inp.name);
    const prev = targets.get(key);
    if (prev !== undefined && resolve(prev) !== resolve(inp.path)) {
      throw new UserError(`${prev} and ${inp.path} would both write ${key}.mask.png: segment them into different --out folders.`);
    }
    targets.set(key, inp.path);
  });

  let weights = opts.weights;
  if (weights === undefined) {
    weights = join(packageRoot(), DEFAULT_WEIGHTS);
    if (!existsSync(join(weights, 'config.json'))) {
      throw new UserError(`The default model ${DEFAULT_WEIGHTS}/ is not in this checkout yet: pass --weights DIR with a model folder (config.json and model.safetensors).`);
    }
  }

  // An NVlabs .pth carries no configuration: --config FILE, --preset NAME, a config.json beside it, or gcc-yfcc.
  const present = existsSync(weights);
  const besideConfig = present && existsSync(join(statSync(weights).isDirectory() ? weights : dirname(weights), 'config.json'));
  const pickConfig = present && (opts.config !== undefined || opts.preset !== undefined || (!besideConfig && !statSync(weights).isDirectory()));
  const config = pickConfig ? resolveConfig(weights, { config: opts.config, preset: opts.preset }).config : undefined;
  const segmenter = await Segmenter.load({ weights, config, gpu: { adapter: opts.adapter, backend: opts.backend } });
  try {
    const augment = augmentOpt ?? segmenter.augmentDefault;
    const settings = resolveSettings(segmenter.config, segOpts, segmenter.backgroundFor(classes.length), segmenter.refineDefault, segmenter.isolateDefault);
    for (const inp of inputs) segmenter.checkFits(inp, settings, inp.path);
    if (opts.out) mkdirOut(resolve(opts.out));
    await segmenter.classEmbeddings(classes, templates);
    const startupMs = performance.now() - t0;

    const bar =
      io.stderr.isTTY && inputs.length > 1
        ? new cliProgress.SingleBar({ format: 'segment [{bar}] {value}/{total} images | {name}', hideCursor: true, clearOnComplete: true, stream: io.stderr as NodeJS.WritableStream })
        : null;
    bar?.start(inputs.length, 0, { name: '' });
    const reports: ImageReport[] = [];
    try {
      for (const [i, inp] of inputs.entries()) {
        bar?.update(i, { name: inp.name });
        const t = performance.now();
        const image = readImage(inp.path);
        const seg = await segmenter.segment(image, classes, { ...segOpts, templates, name: inp.path, augment });
        const outputs = writeOutputs(outDirs[i], inp.name, image, seg);
        reports.push({
          image: inp.path,
          width: seg.width,
          height: seg.height,
          resized: seg.resized,
          windows: seg.windows,
          outputs,
          ms: performance.now() - t,
          classes: seg.stats.map((s) => ({ index: s.index, name: s.name, pixels: s.pixels, share: s.share, meanScore: s.meanScore })),
        });
        bar?.update(i + 1, { name: inp.name });
      }
    } finally {
      bar?.stop();
    }
    const totalMs = performance.now() - t0;
    const perImageMs = reports.reduce((a, r) => a + r.ms, 0) / reports.length;
    const report: SegmentReport = {
      weights,
      protocol: settings.protocol,
      mode: settings.mode,
      size: settings.size,
      stride: settings.stride,
      bgThresh: settings.bgThresh,
      bgBorder: settings.bgBorder,
      augment,
      refine: settings.refine,
      classes,
      templates,
      startupMs,
      images: reports,
      perImageMs,
      totalMs,
    };
    if (opts.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else io.stdout.write(summary(report));
    io.stderr.write(
      `start-up ${(startupMs / 1000).toFixed(2)} s (device, model, class embeddings); ${reports.length} image${reports.length > 1 ? 's' : ''} at ${(perImageMs / 1000).toFixed(3)} s each (${settings.protocol} protocol, ${settings.mode}, size ${settings.size}, ${describeRule(settings)}${settings.refine === 'none' ? '' : `, ${settings.refine} refinement`}${augment === 'none' ? '' : `, ${testViews(augment, segmenter.config.vision_config.patch_size).length} views`}${settings.isolate ? ', object groups named alone' : ''})\n`,
    );
    return report;
  } finally {
    segmenter.release();
  }
}

function mkdirOut(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`The output folder ${dir} cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
}

function summary(r: SegmentReport): string {
  const lines: string[] = [];
  for (const im of r.images) {
    lines.push(`${im.image}  ${im.width}x${im.height}  ${(im.ms / 1000).toFixed(3)} s  -> ${im.outputs.mask}, .overlay.png, .groups.png`);
    const w = Math.max(5, ...im.classes.map((c) => c.name.length));
    lines.push(`  ${'class'.padEnd(w)}  pixels  mean score`);
    for (const c of im.classes) {
      if (c.pixels === 0) continue;
      lines.push(`  ${c.name.padEnd(w)}  ${`${(100 * c.share).toFixed(1)}%`.padStart(6)}  ${c.meanScore.toFixed(3)}`);
    }
    const absent = im.classes.filter((c) => c.pixels === 0).map((c) => c.name);
    if (absent.length) lines.push(`  not found: ${absent.join(', ')}`);
  }
  return lines.join('\n') + '\n';
}
