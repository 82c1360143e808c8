// `--data DIR`: a folder with captions.jsonl, a folder of webdataset .tar shards, a single shard, or a .jsonl file.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileError } from '../io/read-file.js';
import { CAPTIONS_FILE, openCaptionsJsonl } from './captions-jsonl.js';
import type { ImageTextIndex } from './records.js';
import { openWebDataset } from './webdataset.js';

export function openImageTextDataset(path: string): ImageTextIndex {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw fileError(e, path, 'Dataset');
  }
  if (st.isFile()) return path.endsWith('.jsonl') ? openCaptionsJsonl(path) : openWebDataset(path);
  if (existsSync(join(path, CAPTIONS_FILE))) return openCaptionsJsonl(path);
  return openWebDataset(path);
}
