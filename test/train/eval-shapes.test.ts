// `groupvit eval` on generated scenes: the assignment-margin diagnostic equals the margins recomputed on the host from
// the model's own soft maps of the same scenes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useGpu } from '../helpers.js';
import { readConfig } from '../../src/model/config.js';
import { GroupViTModel } from '../../src/model/groupvit.js';
import { loadWeights } from '../../src/model/load.js';
import { loadTokenizer } from '../../src/data/tokenizer/index.js';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGradAsync } from '../../src/tensor/tape.js';
import { normalizeImages } from '../../src/io/normalize-pixels.js';
import { evaluateShapes } from '../../src/train/eval-shapes.js';

useGpu();

test('eval diagnostics: per-stage assignment margins match a host recomputation from the soft maps', async () => {
  const dir = join(process.cwd(), 'models', 'shapes-tiny');
  const config = readConfig(join(dir, 'config.json'));
  const model = new GroupViTModel(config);
  await loadWeights(model, dir);
  const tok = loadTokenizer(dir, config);
  const count = 6;
  const rep = await evaluateShapes(model, tok, { seed: 5, count, imageSize: 64, batch: 4 });
  const margins = rep.diagnostics.assignMargins!;
  assert.equal(margins.length, 2, 'two grouping stages');
  const data = new ShapesDataset({ seed: 5, split: 'eval', imageSize: 64 });
  const images = Array.from({ length: count }, (_, i) => data.sample(i).image);
  const want = await tidyAsync(async () => {
    const px = Tensor.fromArray(normalizeImages(images), [count, 3, 64, 64]);
    const out = await noGradAsync(() => model.encodeImage(px));
    const res: number[] = [];
    for (const a of out.assignments) {
      const [b, s, l] = a.soft.shape;
      const soft = await a.soft.toArray();
      let sum = 0;
      for (let i = 0; i < b; i++)
        for (let t = 0; t < l; t++) {
          const col = Array.from({ length: s }, (_, g) => soft[(i * s + g) * l + t]).sort((x, y) => y - x);
          sum += Math.log(col[0] / col[1]);
        }
      res.push(sum / (b * l));
    }
    return res;
  });
  for (let k = 0; k < 2; k++) assert.ok(Math.abs(margins[k] - want[k]) < 1e-4 * Math.max(1, want[k]), `stage ${k}: ${margins[k]} vs ${want[k]}`);
  assert.ok(margins.every((m) => m >= 0 && Number.isFinite(m)));
  model.release();
});
