/**
 * The collectives data-parallel training uses, whatever provides them (the Open MPI binding
 * in mpi.ts; a one-process world for single-process runs of the same code path). All calls
 * are collective: every rank makes the same calls in the same order with equal sizes.
 */
export interface Communicator {
  readonly rank: number;
  readonly size: number;
  /** Element-wise sum over all ranks, in place. */
  allreduceSum(buf: Float32Array | Float64Array): void;
  /** Element-wise sum into `root`'s buffer, in place (other ranks' buffers are left as they were). */
  reduceSum(buf: Float32Array | Float64Array, root: number): void;
  /** `root`'s bytes into every rank's buffer. */
  broadcast(buf: ArrayBufferView, root: number): void;
  barrier(): void;
  /** Ends every process of the job with `code`. */
  abort(code: number): never;
  /** Leaves the job cleanly (after the last collective). */
  finalize(): void;
}

/**
 * A sum over ranks whose result is the same bits on every rank for any world size. MPI
 * promises that only for two ranks (a + b == b + a); beyond, each rank may sum in another
 * order, so the sum is reduced to rank 0 and broadcast from there.
 */
export function allreduceIdentical(comm: Communicator, buf: Float32Array | Float64Array): void {
  if (comm.size === 1) return;
  if (comm.size === 2) {
    comm.allreduceSum(buf);
    return;
  }
  comm.reduceSum(buf, 0);
  comm.broadcast(buf, 0);
}
