import { Tensor, shapeStr } from '../tensor/tensor.js';
import { record } from '../tensor/tape.js';
import { grid1d, run } from './dispatch.js';
import { fill } from './elementwise.js';

/**
 * Gathers rows of `table` [V, D] at integer ids → [...ids.shape, D]. The ids come from the host (token ids), so the
 * backward's scatter-add is planned on the host as a CSR grouping by id: float atomics do not exist in WGSL.
 */
export function embedding(table: Tensor, ids: Int32Array | number[], idsShape: readonly number[]): Tensor {
  const [v, d] = table.shape;
  const rows = ids.length;
  for (const id of ids) if (id < 0 || id >= v) throw new Error(`embedding: id ${id} outside a table of ${v} rows`);
  if (rows !== idsShape.reduce((a, b) => a * b, 1)) throw new Error(`embedding: ${rows} ids for shape ${shapeStr(idsShape)}`);
  const idBuf = Tensor.fromArray(ids, [rows], 'u32');
  const out = Tensor.empty([...idsShape, d]);
  run({ file: 'copy', entry: 'embedding_forward', uniforms: [rows, 0, d, 0, 0, 0, 0], buffers: [table.buffer, out.buffer, idBuf.buffer], workgroups: grid1d(rows * d) });
  if (!table.requiresGrad) {
    idBuf.release();
    return out;
  }
  idBuf.release();
  record([table], out, (g) => {
    // CSR: unique ids, offsets into a list of row indices sorted by id
    const order = [...Array(rows).keys()].sort((a, b) => ids[a] - ids[b] || a - b);
    const uniq: number[] = [];
    const offsets: number[] = [];
    order.forEach((r, k) => {
      if (k === 0 || ids[r] !== ids[order[k - 1]]) {
        uniq.push(ids[r]);
        offsets.push(k);
      }
    });
    offsets.push(rows);
    const plan = Tensor.fromArray([...offsets, ...order, ...uniq], [offsets.length + rows + uniq.length], 'u32');
    const gt = fill(table.shape, 0);
    run({
      file: 'copy', entry: 'embedding_backward', uniforms: [rows, uniq.length, d, 0, 0, 0, 0],
      buffers: [g.buffer, gt.buffer, plan.buffer], workgroups: grid1d(uniq.length * d),
    });
    plan.release();
    return [gt];
  });
  return out;
}
