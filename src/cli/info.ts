import { initGpu, releaseGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
] as const;

export async function infoCommand(opts: AdapterOptions & { json?: boolean }): Promise<void> {
  const g = await initGpu(opts);
  try {
    const limits: Record<string, number> = {};
    for (const k of LIMITS) limits[k] = g.limits[k];
    const features = [...g.device.features].sort();
    const report = { adapter: g.info, limits, features };
    if (opts.json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return;
    }
    const i = g.info;
    const lines = [
      `adapter       ${i.description || i.device || '(unnamed)'}`,
      `vendor        ${i.vendor}`,
      `architecture  ${i.architecture}${i.isSoftware ? ' (software: CPU emulation, expect low speed)' : ''}`,
      `backend       ${i.backend}`,
      'limits',
      ...LIMITS.map((k) => `  ${k.padEnd(36)} ${limits[k]}`),
      `features      ${features.join(', ')}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    releaseGpu();
  }
}
