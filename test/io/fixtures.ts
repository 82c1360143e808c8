// Locates the shared groupvit-tiny fixture: tests run from the repo root, which sits next to shared/.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function fixturePath(name = ''): string {
  const candidates = [resolve(process.cwd(), '../shared/fixtures/groupvit-tiny'), resolve(process.cwd(), 'shared/fixtures/groupvit-tiny')];
  const dir = candidates.find((d) => existsSync(join(d, 'fixture.json')));
  assert.ok(dir, `groupvit-tiny fixture not found (looked in ${candidates.join(', ')}); run the tests from the repository root`);
  return join(dir, name);
}

/** Deterministic uniform [0,1) generator (mulberry32) for fuzzing: the suite's one seeded generator. */
export { rng as mulberry } from '../helpers.js';
