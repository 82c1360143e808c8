// A folder with captions.jsonl: one JSON object per line, {"image": "relative/path.jpg", "caption": "..."}, image
// paths relative to the folder. Lines that cannot be used are skipped and counted; only a missing or unreadable
// file, or one with nothing usable in it, stops the run.
import { statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { readFileBytes } from '../io/read-file.js';
import { UserError } from '../util/errors.js';
import { SkipLog, type ImageTextIndex, type ImageTextRecord } from './records.js';

export const CAPTIONS_FILE = 'captions.jsonl';

export interface JsonlOptions {
  /** Check at indexing time that each image file exists (a stat per line), so missing files are counted up front. */
  checkFiles?: boolean;
}

/** `path` is the folder or the captions.jsonl file itself. */
export function openCaptionsJsonl(path: string, opts: JsonlOptions = {}): ImageTextIndex {
  const { checkFiles = true } = opts;
  const file = basename(path) === CAPTIONS_FILE || path.endsWith('.jsonl') ? path : join(path, CAPTIONS_FILE);
  const root = dirname(resolve(file));
  const text = Buffer.from(readFileBytes(file, 'Dataset file')).toString('utf8');
  const skipped = new SkipLog();
  const records: ImageTextRecord[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      skipped.add('line is not JSON', where);
      return;
    }
    const { image, caption } = (obj ?? {}) as { image?: unknown; caption?: unknown };
    if (typeof image !== 'string' || image === '') {
      skipped.add('no "image" path', where);
      return;
    }
    if (typeof caption !== 'string' || caption.trim() === '') {
      skipped.add('empty caption', where);
      return;
    }
    const imagePath = isAbsolute(image) ? image : join(root, image);
    if (checkFiles) {
      let ok = false;
      try {
        ok = statSync(imagePath).isFile();
      } catch {
        ok = false;
      }
      if (!ok) {
        skipped.add('image file missing', `${where} (${image})`);
        return;
      }
    }
    records.push({ key: imagePath, caption: caption.trim(), file: imagePath, offset: 0, length: -1 });
  });
  if (records.length === 0) {
    const why = skipped.total > 0 ? ` (${skipped.summary()})` : '';
    throw new UserError(`Dataset ${file} has no usable image–caption pairs${why}.`);
  }
  return { source: file, records, skipped };
}
