// `groupvit train` rejects a bad --recipe with one sentence before it touches the GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(process.cwd(), 'bin', 'groupvit.js');

function train(recipe: string): { status: number | null; stdout: string; stderr: string } {
  const out = join(mkdtempSync(join(tmpdir(), 'gv-cli-')), 'run');
  const r = spawnSync(process.execPath, [BIN, 'train', '--out', out, '--steps', '1', '--recipe', recipe], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--recipe: not JSON, unknown fields, unknown choices and wrong types are one sentence each, exit 1', () => {
  const cases: [string, RegExp][] = [
    ['{steps: 3}', /^groupvit: --recipe must be a JSON object/],
    ['[1]', /^groupvit: --recipe must be a JSON object/],
    ['{"stepz": 3}', /^groupvit: --recipe has unknown fields stepz: known are .*multiLabelPooling/],
    ['{"multiLabelPooling": "group"}', /^groupvit: --recipe field multiLabelPooling must be "image", "groups", "both" \(got "group"\)\.$/m],
    ['{"multiLabelTargets": "all"}', /^groupvit: --recipe field multiLabelTargets must be "paper", "shared", "unique"/],
    ['{"steps": "10"}', /^groupvit: --recipe field steps must be a number \(got "10"\)\.$/m],
    ['{"groupSmoothness": -1}', /^groupvit: --recipe field groupSmoothness must be a number of at least 0 \(got -1\)\.$/m],
  ];
  for (const [recipe, want] of cases) {
    const r = train(recipe);
    assert.equal(r.status, 1, recipe);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, want, recipe);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
