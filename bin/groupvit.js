#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (npm run setup builds it).
process.env.XDG_RUNTIME_DIR ??= '/tmp';
try {
  const { main } = await import('../dist/src/cli/main.js');
  process.exitCode = await main(process.argv);
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli')) {
    console.error("groupvit: the project is not built yet: run 'npm run setup' first.");
    process.exitCode = 1;
  } else {
    throw e;
  }
}
