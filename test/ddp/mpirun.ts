/** Starting real mpirun jobs from tests (Open MPI; ranks are plain `node` processes). */
import { spawn, spawnSync } from 'node:child_process';
import { repoRoot } from '../helpers/shared.js';

/** How ranks talk: shared memory (one machine) or TCP over loopback, as between machines. */
export type Transport = 'shm' | 'tcp';

/** mpirun's flags for a transport. */
export function transportFlags(t: Transport): string[] {
  return t === 'shm'
    ? ['--mca', 'btl', 'self,vader']
    : ['--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo'];
}

/** The environment of an mpirun job: root allowed (CI runs as root), one thread per rank. */
export function mpiEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    OMPI_MCA_rmaps_base_oversubscribe: '1',
    ...extra,
  };
}

export interface JobResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `mpirun -np <np> <flags> <command...>` from the repository root. */
export function mpirun(np: number, transport: Transport, command: string[], timeoutMs = 120_000): Promise<JobResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('mpirun', ['-np', String(np), ...transportFlags(transport), ...command], {
      cwd: repoRoot,
      env: mpiEnv(),
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Whether Open MPI's mpirun is on PATH. */
export function hasMpirun(): boolean {
  return spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).status === 0;
}
