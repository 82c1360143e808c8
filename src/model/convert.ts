// `groupvit convert`: any weights we can load (a Hugging Face folder with model.safetensors or pytorch_model.bin, an
// NVlabs .pth, one of our own checkpoints) written as a Hugging Face-layout folder: config.json + model.safetensors
// (Hugging Face names, F32, BatchNorm running statistics kept) + the tokenizer files found beside the input.
// Everything is read and checked against the configuration (by loading it into the model) before anything is written,
// and every file is written to a temporary name and renamed, so a failure leaves OUT_DIR as it was.
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import { toFloat32, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { GroupViTModel } from './groupvit.js';
import { readStateDict, resolveWeightsFile } from './load.js';
import { resolveConfig, weightsFolder, type ConfigChoice } from './source.js';
import { loadStateDict, modelTensors } from './weights.js';

/** Tokenizer (and image-processor) files a converted folder carries over; the first three are what we read. */
export const TOKENIZER_FILES = [
  'vocab.json',
  'merges.txt',
  'bpe_simple_vocab_16e6.txt.gz',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'preprocessor_config.json',
];

export interface ConvertOptions extends ConfigChoice {
  /** Folder to take the tokenizer files from (default: the input's folder). */
  tokenizer?: string;
  /** Overwrite a model already in OUT_DIR. */
  force?: boolean;
}

export interface ConvertReport {
  weightsFile: string;
  configSource: string;
  configDefaulted: boolean;
  tensors: number;
  parameters: number;
  /** Input tensors not written (training counters, buffers the model recomputes). */
  dropped: string[];
  /** Files written into OUT_DIR, in order. */
  written: string[];
  /** True when OUT_DIR ends without CLIP BPE files although the model has CLIP's 49408-token vocabulary. */
  tokenizerMissing: boolean;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

function hasBpe(dir: string): boolean {
  return (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) || existsSync(join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
}

/** Needs an initialised GPU: the weights are checked by loading them into a GroupViTModel built from the configuration. */
export async function convertModel(input: string, outDir: string, opts: ConvertOptions = {}): Promise<ConvertReport> {
  if (!existsSync(input)) throw new UserError(`The input ${input} does not exist.`);
  const resolved = resolveConfig(input, opts);
  const weightsFile = resolveWeightsFile(input);

  // The destination is checked first, so a refusal costs nothing.
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new UserError(`The output ${outDir} exists and is not a folder.`);
  if (!opts.force) {
    const taken = ['model.safetensors', 'config.json'].filter((f) => existsSync(join(outDir, f)));
    if (taken.length) throw new UserError(`The output folder ${outDir} already holds ${taken.join(' and ')}; choose another folder or pass --force to overwrite.`);
  }
  const tokDir = opts.tokenizer ?? weightsFolder(input);
  if (opts.tokenizer) {
    if (!existsSync(tokDir) || !statSync(tokDir).isDirectory()) throw new UserError(`The tokenizer folder ${tokDir} does not exist.`);
    if (!hasBpe(tokDir)) throw new UserError(`The tokenizer folder ${tokDir} holds neither vocab.json + merges.txt nor bpe_simple_vocab_16e6.txt.gz.`);
  }
  const tokFiles = TOKENIZER_FILES.filter((f) => existsSync(join(tokDir, f)) && statSync(join(tokDir, f)).isFile());

  const state = await readStateDict(input);
  const model = new GroupViTModel(resolved.config);
  const shapes = new Map<string, number[]>();
  try {
    try {
      loadStateDict(model, state, weightsFile);
    } catch (e) {
      if (!(e instanceof UserError) || !/do not fit the model's configuration/.test(e.message)) throw e;
      const hint = !opts.config ? '; choose another with --config FILE or --preset NAME' : '';
      throw new UserError(`${e.message.replace(/\.$/, '')} (configuration from ${resolved.source}${hint}).`);
    }
    for (const [name, t] of modelTensors(model)) shapes.set(name, [...t.shape]);
  } finally {
    model.release();
  }

  const tensors = new Map<string, TensorToWrite>();
  let parameters = 0;
  for (const [name, shape] of shapes) {
    const data = toFloat32(state.get(name)!);
    tensors.set(name, { dtype: 'F32', shape, data });
    parameters += data.length;
  }
  const dropped = [...state.keys()].filter((k) => !shapes.has(k));

  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new UserError(`Cannot create the output folder ${outDir}: ${(e as Error).message}.`);
  }
  const written: string[] = [];
  for (const f of tokFiles) {
    const from = join(tokDir, f);
    const to = join(outDir, f);
    if (!sameFile(from, to)) writeFileAtomic(to, readFileSync(from));
    written.push(f);
  }
  // `format: pt` is what transformers' safetensors loader asks for.
  writeSafetensors(join(outDir, 'model.safetensors'), tensors, { format: 'pt', converted_from: basename(resolve(weightsFile)) });
  written.push('model.safetensors');
  // config.json last: a folder with a config is a complete model.
  // A config.json is copied byte for byte (it parsed above); a built-in configuration is written out.
  const configBytes = resolved.path ? readFileSync(resolved.path) : Buffer.from(JSON.stringify(resolved.raw, null, 2) + '\n', 'utf8');
  if (!(resolved.path && sameFile(resolved.path, join(outDir, 'config.json')))) writeFileAtomic(join(outDir, 'config.json'), configBytes);
  written.push('config.json');

  return {
    weightsFile,
    configSource: resolved.source,
    configDefaulted: resolved.defaulted,
    tensors: tensors.size,
    parameters,
    dropped,
    written,
    tokenizerMissing: resolved.config.text_config.vocab_size === 49408 && !hasBpe(outDir),
  };
}
