import { initGpu } from '../gpu/runtime.js';
import type { AdapterOptions } from '../gpu/adapter.js';
import { convertModel, type ConvertOptions } from '../model/convert.js';

export async function convertCommand(input: string, outDir: string, opts: AdapterOptions & ConvertOptions & { json?: boolean }): Promise<void> {
  await initGpu(opts);
  const r = await convertModel(input, outDir, { config: opts.config, preset: opts.preset, tokenizer: opts.tokenizer, force: opts.force });
  if (opts.json) {
    process.stdout.write(JSON.stringify({ input, output: outDir, ...r }, null, 2) + '\n');
  } else {
    const millions = (r.parameters / 1e6).toFixed(r.parameters >= 1e7 ? 1 : 3);
    process.stdout.write(
      `Converted ${r.weightsFile} (${r.tensors} tensors, ${millions}M values, configuration from ${r.configSource}) into ${outDir}: ${r.written.join(', ')}.\n`,
    );
    if (r.dropped.length) process.stdout.write(`Not carried over (the model does not keep them): ${r.dropped.join(', ')}.\n`);
  }
  if (r.configDefaulted) {
    process.stderr.write(`note: ${input} has no config.json beside it, so the built-in gcc-yfcc configuration was used (--config FILE or --preset NAME chooses another).\n`);
  }
  if (r.tokenizerMissing) {
    process.stderr.write(
      `note: ${outDir} has no tokenizer files; before segmenting, copy vocab.json + merges.txt (Hugging Face) or bpe_simple_vocab_16e6.txt.gz (OpenAI CLIP) into it, or rerun with --tokenizer DIR.\n`,
    );
  }
}
