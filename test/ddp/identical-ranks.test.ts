/**
 * Parameters stay bit-identical on every rank beyond two ranks, where MPI does not promise
 * identical allreduce bits: 3 ranks (oversubscribed) starting from different weights and
 * training on different data for three steps end with the same parameter bits.
 */
import { describe, expect, it } from 'vitest';
import { mpirun } from './mpirun.js';

describe('parameters on 3 ranks', () => {
  const identicalTitle =
    'are bit-identical after three data-parallel steps (shared memory; TCP is covered by the golden replay)';
  it(
    identicalTitle,
    async () => {
      for (const transport of ['shm'] as const) {
        const job = await mpirun(3, transport, ['node', '--import', 'tsx', 'test/ddp/rank-steps.ts']);
        expect(job.code, job.stderr.slice(-1500)).toBe(0);
        const lines = job.stdout.split('\n').filter((l) => l.startsWith('rank '));
        expect(lines.length).toBe(3);
        const hashes = new Set(lines.map((l) => l.split(' params ')[1]));
        expect(hashes.size, lines.join('\n')).toBe(1);
        console.log(`${transport}: ${lines[0]} (${(job.ms / 1000).toFixed(1)} s)`);
      }
    },
    180_000,
  );
});
