/**
 * The optional Open MPI binding (native/mpi, built by scripts/build-native.mjs only where
 * `mpicc` exists) as a {@link Communicator}. A process started by mpirun (or srun / the MPI
 * Operator with Open MPI or a PMI launcher) is detected from its environment; if it was but
 * the binding is missing, {@link joinWorld} refuses with one line instead of training N
 * independent copies of the model.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Communicator } from './communicator.js';

/** The addon's functions (see native/mpi/src/mpi_addon.cc). */
interface MpiAddon {
  init(): void;
  rank(): number;
  size(): number;
  allreduce(buf: Float32Array | Float64Array): void;
  reduce(buf: Float32Array | Float64Array, root: number): void;
  broadcast(buf: ArrayBufferView, root: number): void;
  barrier(): void;
  abort(code: number): void;
  finalize(): void;
  version(): string;
}

const addonPath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../native/mpi/build/Release/repghost_mpi.node',
);

/**
 * The world size the launcher announced, or null when this process was not started by an
 * MPI launcher (Open MPI's mpirun, or a PMI/PMIx launcher such as Slurm's srun).
 */
export function launcherWorldSize(env: NodeJS.ProcessEnv = process.env): number | null {
  const v = env.OMPI_COMM_WORLD_SIZE ?? env.PMIX_SIZE ?? env.PMI_SIZE;
  if (v !== undefined) {
    const n = Number(v);
    return Number.isInteger(n) && n > 0 ? n : null;
  }
  return env.PMIX_RANK !== undefined || env.PMI_RANK !== undefined ? 1 : null;
}

/** This process's rank as the launcher announced it (0 when not launched by MPI). */
export function launcherRank(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.OMPI_COMM_WORLD_RANK ?? env.PMIX_RANK ?? env.PMI_RANK ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** Ranks of this job on this machine (Open MPI tells each rank; 1 when unknown). */
export function localRanks(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.OMPI_COMM_WORLD_LOCAL_SIZE ?? env.MPI_LOCALNRANKS ?? env.SLURM_NTASKS_PER_NODE ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

let addon: MpiAddon | null | undefined;
let addonError = '';

/** The loaded binding, or null (with the reason in {@link mpiUnavailableReason}). */
export function mpiAddon(): MpiAddon | null {
  if (addon !== undefined) return addon;
  if (process.env.REPGHOST_MPI === '0') {
    addonError = 'the MPI binding is disabled (REPGHOST_MPI=0)';
    return (addon = null);
  }
  if (!existsSync(addonPath)) {
    addonError = 'the MPI binding is not built (install openmpi-bin and libopenmpi-dev, then npm run build:native)';
    return (addon = null);
  }
  try {
    addon = createRequire(import.meta.url)(addonPath) as MpiAddon;
  } catch (e) {
    addonError = `the MPI binding does not load: ${(e as Error).message.split('\n')[0]}`;
    addon = null;
  }
  return addon;
}

/** Why {@link mpiAddon} is null. */
export function mpiUnavailableReason(): string {
  mpiAddon();
  return addonError;
}

class MpiCommunicator implements Communicator {
  readonly rank: number;
  readonly size: number;
  private finalized = false;

  constructor(private readonly mpi: MpiAddon) {
    mpi.init();
    this.rank = mpi.rank();
    this.size = mpi.size();
  }

  allreduceSum(buf: Float32Array | Float64Array): void {
    this.mpi.allreduce(buf);
  }
  reduceSum(buf: Float32Array | Float64Array, root: number): void {
    this.mpi.reduce(buf, root);
  }
  broadcast(buf: ArrayBufferView, root: number): void {
    this.mpi.broadcast(buf, root);
  }
  barrier(): void {
    this.mpi.barrier();
  }
  abort(code: number): never {
    this.mpi.abort(code);
    process.exit(code); // not reached: MPI_Abort ends the process
  }
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.mpi.finalize();
  }
}

let world: Communicator | null | undefined;

/**
 * Joins the MPI job this process was launched into: null when not launched by MPI (one
 * process training), the communicator otherwise. Throws one clear line when mpirun started
 * this process but the binding is unavailable. Idempotent.
 */
export function joinWorld(): Communicator | null {
  if (world !== undefined) return world;
  const announced = launcherWorldSize();
  if (announced === null) return (world = null);
  const mpi = mpiAddon();
  if (!mpi) {
    throw new Error(
      `started by an MPI launcher (${announced} processes) but ${addonError}: refusing to train ${announced} ` +
        `unconnected copies`,
    );
  }
  return (world = new MpiCommunicator(mpi));
}
