import { existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { readSafetensors, type HostTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import type { GroupViTModel } from './groupvit.js';
import { isNvlabsState, loadStateDict, nvlabsToHf } from './weights.js';

/** The weights file a path names: the file itself, or a folder's model.safetensors (else its pytorch_model.bin). */
export function resolveWeightsFile(path: string): string {
  if (!existsSync(path)) throw new UserError(`The weights file ${path} does not exist.`);
  if (!statSync(path).isDirectory()) return path;
  const candidates = ['model.safetensors', 'pytorch_model.bin'].map((f) => join(path, f)).filter(existsSync);
  if (!candidates.length) throw new UserError(`The weights folder ${path} holds neither model.safetensors nor pytorch_model.bin.`);
  return candidates[0];
}

/** Reads a state dict from safetensors or a PyTorch checkpoint, in Hugging Face names (NVlabs names are converted). */
export async function readStateDict(path: string): Promise<Map<string, HostTensor>> {
  const file = resolveWeightsFile(path);
  const ext = extname(file).toLowerCase();
  let state: Map<string, HostTensor>;
  if (ext === '.safetensors') state = readSafetensors(file);
  else if (ext === '.pth' || ext === '.bin' || ext === '.pt') {
    const torch = await import('../io/torch.js');
    state = torch.torchStateDict(file);
  } else throw new UserError(`The weights file ${file} is neither .safetensors nor a PyTorch .pth/.bin checkpoint.`);
  return isNvlabsState(state) ? nvlabsToHf(state) : state;
}

export async function loadWeights(model: GroupViTModel, path: string): Promise<void> {
  const state = await readStateDict(path);
  loadStateDict(model, state, path);
}
