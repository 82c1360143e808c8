// Device-time profiling by timestamp queries: each dispatch is attributed to its kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGpu, randn } from '../helpers.js';
import { gpu } from '../../src/gpu/runtime.js';
import { Tensor, tidyAsync } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/tensor/tape.js';
import { matmul } from '../../src/ops/matmul.js';
import { softmax } from '../../src/ops/softmax.js';

useGpu();

test('the profiler attributes device time to each kernel and leaves results unchanged', async () => {
  if (!gpu().device.features.has('timestamp-query')) return assert.equal(gpu().enableProfiling(), false);
  await tidyAsync(async () => {
    const a = Tensor.fromArray(randn(33 * 17, 1), [33, 17]);
    const b = Tensor.fromArray(randn(17 * 9, 2), [17, 9]);
    const plain = await noGrad(() => softmax(matmul(a, b))).toArray();
    assert.equal(gpu().enableProfiling(), true);
    const profiled = await noGrad(() => softmax(matmul(a, b))).toArray();
    const totals = await gpu().stopProfiling();
    assert.deepEqual(profiled, plain);
    const labels = [...totals.keys()];
    assert.ok(labels.some((l) => l.startsWith('matmul:')), labels.join());
    assert.ok(labels.includes('softmax:softmax_forward'), labels.join());
    for (const [, v] of totals) {
      assert.equal(v.count, 1);
      assert.ok(v.ns >= 0 && v.ns < 1e10);
    }
    assert.equal(gpu().profiler, null);
  });
});
