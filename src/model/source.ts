// Which configuration goes with a weights path (`--weights FILE|DIR`): --config FILE, else --preset NAME, else the
// config.json in the weights' folder, else the built-in configuration of the released gcc-yfcc model (an NVlabs
// .pth carries no configuration of its own).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../util/errors.js';
import { parseConfig, readRawConfig, type GroupViTConfig } from './config.js';
import { DEFAULT_PRESET, findPreset, presetRawConfig } from './presets.js';

export interface ConfigChoice {
  /** A config.json in Hugging Face's GroupViTConfig layout. */
  config?: string;
  /** A built-in configuration (gcc-yfcc, gcc-redcap). */
  preset?: string;
}

export interface ResolvedConfig {
  config: GroupViTConfig;
  /** The JSON as given (what a converted folder's config.json holds). */
  raw: Record<string, unknown>;
  /** Where it came from, for messages: a path or "the built-in configuration gcc-yfcc". */
  source: string;
  /** True when nothing chose it and the default preset was taken. */
  defaulted: boolean;
  /** The config.json file it was read from (absent for a built-in configuration). */
  path?: string;
}

/** The folder a weights path lives in: the path itself when it is a folder. */
export function weightsFolder(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? path : dirname(path);
}

export { readRawConfig };

/** Older hub configs also carry `text_config_dict`/`vision_config_dict`, which transformers lets override the others. */
function normalise(raw: Record<string, unknown>): Record<string, unknown> {
  const out = { ...raw };
  for (const part of ['text_config', 'vision_config'] as const) {
    const legacy = raw[`${part}_dict`];
    if (legacy && typeof legacy === 'object' && !Array.isArray(legacy)) out[part] = { ...((raw[part] as object) ?? {}), ...legacy };
  }
  return out;
}

export function configFromRaw(raw: Record<string, unknown>, source: string): GroupViTConfig {
  return parseConfig(normalise(raw), source);
}

/** The configuration for the weights at `weightsPath` (file or folder), chosen as the header says. */
export function resolveConfig(weightsPath: string, choice: ConfigChoice = {}): ResolvedConfig {
  if (choice.config && choice.preset) throw new UserError('Give either --config FILE or --preset NAME, not both.');
  if (choice.config) {
    const raw = readRawConfig(choice.config);
    return { config: configFromRaw(raw, choice.config), raw, source: choice.config, defaulted: false, path: choice.config };
  }
  if (choice.preset) {
    const name = findPreset(choice.preset).name;
    const raw = presetRawConfig(name);
    return { config: configFromRaw(raw, name), raw, source: `the built-in ${name} preset`, defaulted: false };
  }
  const beside = join(weightsFolder(weightsPath), 'config.json');
  if (existsSync(beside)) {
    const raw = readRawConfig(beside);
    return { config: configFromRaw(raw, beside), raw, source: beside, defaulted: false, path: beside };
  }
  const raw = presetRawConfig(DEFAULT_PRESET);
  return { config: configFromRaw(raw, DEFAULT_PRESET), raw, source: `the built-in ${DEFAULT_PRESET} preset`, defaulted: true };
}
