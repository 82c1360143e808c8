#!/usr/bin/env node
// Times the full-size (gcc-yfcc) GroupViT image tower on one 448×448 window — the unit of the paper's sliding-window
// protocol — with random weights (the time does not depend on the values). Needs the build (npm run build).
// Usage: node scripts/time-window.js [--size 448] [--runs 5] [--adapter SUBSTRING]
import { parseArgs } from 'node:util';
import { initGpu, releaseGpu } from '../dist/src/gpu/runtime.js';
import { GroupViTModel } from '../dist/src/model/groupvit.js';
import { presetConfig } from '../dist/src/model/presets.js';
import { Tensor, tidyAsync } from '../dist/src/tensor/tensor.js';
import { noGrad } from '../dist/src/tensor/tape.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const { values } = parseArgs({ options: { size: { type: 'string', default: '448' }, runs: { type: 'string', default: '5' }, adapter: { type: 'string' } } });
const size = Number(values.size);
const runs = Number(values.runs);
const g = await initGpu({ adapter: values.adapter });
const model = new GroupViTModel(presetConfig('gcc-yfcc'));
await model.prepareInference();
const pixels = new Float32Array(3 * size * size);
for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.37);
const times = [];
for (let i = 0; i <= runs; i++) {
  const t0 = performance.now();
  await tidyAsync(async () => {
    const out = await noGrad(() => model.encodeImage(Tensor.fromArray(pixels, [1, 3, size, size])));
    await out.groupEmbedsUnnorm.toArray(); // a read-back: the window is finished
    for (const a of out.assignments) await a.soft.toArray();
  });
  if (i > 0) times.push(performance.now() - t0); // the first run compiles the pipelines
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ adapter: g.info.description, size, runs, median_ms: Math.round(median), min_ms: Math.round(times[0]) }));
model.release();
releaseGpu();
