// Used by scripts/setup.sh: exits 0 when a WebGPU adapter and device can be had, 1 (with Dawn's reason) otherwise.
import { initGpu, releaseGpu } from '../gpu/runtime.js';

try {
  const g = await initGpu();
  console.log(`${g.info.description || g.info.device} (${g.info.vendor}, ${g.info.architecture})`);
  releaseGpu();
  process.exit(0);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
