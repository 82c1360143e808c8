// `groupvit bench --smoke`: every case runs at minimal shapes and the JSON report (one object on stdout, the same in
// --out FILE) names every case with finite numbers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const bin = fileURLToPath(new URL('../../../bin/groupvit.js', import.meta.url));

function groupvit(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout: 120_000 });
}

/** TF.js is a development dependency: when it is installed the peer must load and be compared. */
function tfjsInstalled(): boolean {
  try {
    const req = createRequire(import.meta.url);
    req.resolve('@tensorflow/tfjs-core');
    req.resolve('@tensorflow/tfjs-backend-webgpu');
    return true;
  } catch {
    return false;
  }
}

const EXPECTED = [
  'matmul smoke NN',
  'matmul smoke TN',
  'attn smoke self 20x20 fwd',
  'attn smoke self 20x20 fwd+bwd',
  'attn smoke causal 12x12 fwd',
  'attn smoke causal 12x12 fwd+bwd',
  'assign smoke fwd',
  'assign smoke fwd+bwd',
  'contrastive smoke multi-label fwd+bwd',
  'layernorm smoke fwd',
  'layernorm smoke fwd+bwd',
  'gelu smoke fwd',
  'gelu smoke fwd+bwd',
  'pamr smoke',
  'adamw smoke model step',
  'train-step smoke',
  'segment smoke 32px',
];

function finiteNumbers(x: unknown, path: string, out: string[]): void {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) out.push(path);
  } else if (x === null) {
    // null is allowed only for "not measured" fields, checked by name below
  } else if (Array.isArray(x)) x.forEach((v, i) => finiteNumbers(v, `${path}[${i}]`, out));
  else if (typeof x === 'object') for (const [k, v] of Object.entries(x as object)) finiteNumbers(v, `${path}.${k}`, out);
}

test('groupvit bench --smoke --json prints one report with every case and finite figures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'groupvit-bench-'));
  try {
    const file = join(dir, 'sub', 'report.json');
    const r = groupvit(['bench', '--smoke', '--json', '--out', file]);
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
    const report = JSON.parse(r.stdout); // exactly one JSON value on stdout, nothing else
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), report, '--out holds the same report');
    assert.equal(report.smoke, true);
    assert.ok(report.adapter && typeof report.adapter.description === 'string');
    // the fma chain (kernels/peak.wgsl) and the vec4 copy (kernels/bandwidth.wgsl) ceilings
    assert.ok(report.ceilings.fmaGflops > 0 && report.ceilings.copyGBps > 0, 'ceilings measured');
    assert.deepEqual(report.skipped, [], `nothing failed or was skipped: ${JSON.stringify(report.skipped)}`);
    const names = report.records.map((x: { case: string }) => x.case);
    assert.equal(new Set(names).size, names.length, 'case names are unique');
    for (const name of EXPECTED) assert.ok(names.includes(name), `case '${name}' in the report (got ${names.join(', ')})`);
    const bad: string[] = [];
    finiteNumbers(report, 'report', bad);
    assert.deepEqual(bad, [], 'every number is finite');
    for (const rec of report.records) {
      assert.ok(rec.p50Ms > 0 && rec.p90Ms >= rec.p50Ms && rec.rate > 0, `${rec.case}: timings`);
      if (rec.suite === 'kernels') {
        assert.ok(rec.ofCeiling > 0, `${rec.case}: fraction of its ceiling`);
        if (rec.maxAbsErr !== null) assert.ok(rec.maxAbsErr < 1e-3, `${rec.case}: max error ${rec.maxAbsErr}`);
      }
    }
    const byName = (n: string) => report.records.find((x: { case: string }) => x.case === n);
    assert.ok(byName('matmul smoke NN').baseline.name === 'naive', 'naive matmul baseline in the same run');
    assert.ok(byName('attn smoke self 20x20 fwd').baseline.name === 'unfused', 'unfused attention baseline');
    if (tfjsInstalled()) {
      assert.ok(report.peer, `TF.js is installed, so it is compared (notes: ${report.notes.join('; ')})`);
      for (const n of ['matmul smoke NN', 'attn smoke self 20x20 fwd', 'attn smoke self 20x20 fwd+bwd', 'attn smoke causal 12x12 fwd+bwd']) {
        assert.ok(byName(n).peer?.ratio > 0, `${n}: TF.js ratio`);
      }
    } else assert.ok(report.notes.some((n: string) => n.includes('TF.js')), 'a note says why TF.js is missing');
    const seg = byName('segment smoke 32px');
    for (const k of ['startupMs', 'textPerClassMs', 'imageForwardMs']) assert.ok(seg.parts[k] > 0, `segment part ${k}`);
    assert.ok(byName('train-step smoke').peakBytes > 0, 'peak pool memory');
    assert.match(r.stderr, /kernel case/, 'the table goes to stderr');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('groupvit bench rejects an unknown suite with one sentence', () => {
  const r = groupvit(['bench', '--suite', 'everything']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Unknown suite 'everything'/);
  assert.equal(r.stdout, '');
});
