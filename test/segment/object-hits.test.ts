// Objects found per scene (eval's "objects found"): a class present in a scene counts when its IoU in that scene
// is above 0.5; background is not an object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectHits } from '../../src/segment/iou.js';

test('ObjectHits: per-scene IoU above 0.5 for each class present, by hand', () => {
  const h = new ObjectHits(4);
  // scene 1: class 1 on 4 pixels, predicted on 3 of them plus 1 more (IoU 3/5 = 0.6: found); class 2 on 2 pixels,
  // predicted on 1 (IoU 1/2: not above 0.5); class 3 is predicted but absent (no object)
  h.add([1, 1, 1, 0, 1, 2, 0, 3], [1, 1, 1, 1, 0, 2, 2, 0]);
  assert.deepEqual([h.found, h.objects, h.scenesAllFound, h.scenes], [1, 2, 0, 1]);
  // scene 2: one object, exactly found; scene 3: background only (no objects, not a scene with every object found)
  h.add([0, 3, 3, 0], [0, 3, 3, 0]);
  h.add([0, 0, 1, 0], [0, 0, 0, 0]);
  assert.deepEqual([h.found, h.objects, h.scenesAllFound, h.scenes], [2, 3, 1, 3]);
});
