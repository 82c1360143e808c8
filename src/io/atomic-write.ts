// Checkpoints and weight files are written to a temporary name, flushed to disk, then renamed over the target:
// rename is atomic on POSIX, so an interrupted run never leaves a half-written file under the real name.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../util/errors.js';

export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file may never have been created
    }
    throw new UserError(`Cannot write ${path}: ${(e as Error).message}.`);
  }
  // Best effort: persist the rename itself (not every filesystem lets a directory be fsynced).
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // ignored: the data is already safe, only the directory entry might lag on power loss
  }
}
