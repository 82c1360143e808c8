import { join } from 'node:path';
import { initGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { readConfig, type GroupViTConfig } from '../model/config.js';
import { GroupViTModel } from '../model/groupvit.js';
import { loadWeights } from '../model/load.js';
import { loadTokenizer, type Tokenizer } from '../data/tokenizer/index.js';

/** Opens the GPU, loads a trained model folder (config.json, weights, tokenizer) for `fn`, and releases the model after. */
export async function withTrainedModel<T>(dir: string, gpu: AdapterOptions, fn: (model: GroupViTModel, tok: Tokenizer, config: GroupViTConfig) => Promise<T>): Promise<T> {
  const config = readConfig(join(dir, 'config.json'));
  await initGpu(gpu);
  const model = new GroupViTModel(config);
  try {
    await loadWeights(model, dir);
    return await fn(model, loadTokenizer(dir, config), config);
  } finally {
    model.release();
  }
}
