/**
 * `repghost train --nproc N`: the one-machine shortcut (like torchrun --nproc_per_node) that
 * starts `mpirun -np N` on this very command line, minus --nproc. Root needs Open MPI's
 * consent variables, which the shortcut sets; ranks are not bound to cores (each rank has
 * data worker threads besides its compute threads); more ranks than cores oversubscribe.
 * Waits for mpirun and passes on its exit status; SIGINT / SIGTERM go to mpirun, which
 * ends every rank.
 */
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** argv without `--nproc N` / `--nproc=N`. */
export function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--nproc') {
      i++;
      continue;
    }
    if (a.startsWith('--nproc=')) continue;
    out.push(a);
  }
  return out;
}

/** mpirun's arguments for N local ranks running `command`. */
export function mpirunArgs(nproc: number, command: readonly string[], extra: readonly string[] = []): string[] {
  return [
    '-np',
    String(nproc),
    '--bind-to',
    'none',
    ...(nproc > availableParallelism() ? ['--oversubscribe'] : []),
    ...extra,
    ...command,
  ];
}

/** Whether Open MPI's mpirun is on PATH. */
export function mpirunAvailable(): boolean {
  const r = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /Open MPI|OpenRTE/i.test(`${r.stdout}${r.stderr}`);
}

/**
 * Runs this process's command again as N ranks under mpirun; resolves with the exit code
 * to use. `mpirunExtra` comes from $REPGHOST_MPIRUN_ARGS (e.g. `--mca btl tcp,self`).
 */
export function launchRanks(nproc: number, argv: readonly string[] = process.argv): Promise<number> {
  if (!mpirunAvailable()) {
    return Promise.reject(
      new Error("--nproc needs Open MPI's mpirun on PATH (Debian: apt-get install openmpi-bin libopenmpi-dev)"),
    );
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.getuid?.() === 0) {
    env.OMPI_ALLOW_RUN_AS_ROOT = '1';
    env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
  }
  const extra = (process.env.REPGHOST_MPIRUN_ARGS ?? '').split(/\s+/).filter(Boolean);
  const command = [process.execPath, ...process.execArgv, ...withoutNproc(argv.slice(1))];
  const child = spawn('mpirun', mpirunArgs(nproc, command, extra), { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
}
