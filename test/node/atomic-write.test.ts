/**
 * Atomic writes and the clean-up of temp files that a killed writer leaves behind:
 * only `.<name>.<pid>.<hex>.tmp` files of dead processes go, nothing else.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleTempFiles, writeFileAtomic, writeFileAtomicSync } from '../../src/node/atomic-write.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-atomic-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The id of a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  return r.pid;
}

describe('writeFileAtomic / writeFileAtomicSync', () => {
  it('replace the target and leave no temp file', async () => {
    const dir = path.join(work, 'write');
    mkdirSync(dir);
    const file = path.join(dir, 'a.bin');
    writeFileAtomicSync(file, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
    await writeFileAtomic(file, new Uint8Array([4, 5]));
    expect([...readFileSync(file)]).toEqual([4, 5]);
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });
});

describe('removeStaleTempFiles', () => {
  it('removes temp files of dead writers only, and nothing outside the naming scheme', () => {
    const dir = path.join(work, 'stale');
    mkdirSync(dir);
    const dead = deadPid();
    // A live writer in another process (kept alive until the check is done).
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const live = other.pid!;
      const files = {
        deadLast: `.last.pth.tar.${dead}.0a1b2c3d.tmp`,
        deadSummary: `.summary.csv.${dead}.ffffffff.tmp`,
        liveOther: `.last.pth.tar.${live}.01234567.tmp`,
        liveSelf: `.last.pth.tar.${process.pid}.89abcdef.tmp`,
        liveInit: `.last.pth.tar.1.deadbeef.tmp`,
        // Not of the scheme, though close: all kept.
        noDot: `last.pth.tar.${dead}.0a1b2c3d.tmp`,
        shortHex: `.last.pth.tar.${dead}.0a1b2c.tmp`,
        upperHex: `.last.pth.tar.${dead}.0A1B2C3D.tmp`,
        zeroPid: `.last.pth.tar.0.0a1b2c3d.tmp`,
        otherExt: `.last.pth.tar.${dead}.0a1b2c3d.temp`,
        target: 'last.pth.tar',
        summary: 'summary.csv',
        user: 'notes.tmp',
      };
      for (const f of Object.values(files)) writeFileSync(path.join(dir, f), 'x');
      // A folder named like a temp file of a dead writer is not a temp file: kept.
      const deadDir = `.model_best.pth.tar.${dead}.00000000.tmp`;
      mkdirSync(path.join(dir, deadDir));

      // Restricted to another target: nothing of last.pth.tar / summary.csv goes.
      expect(removeStaleTempFiles(dir, 'model_best.pth.tar')).toEqual([]);
      expect(removeStaleTempFiles(dir, 'last.pth.tar')).toEqual([path.join(dir, files.deadLast)]);
      expect(removeStaleTempFiles(dir)).toEqual([path.join(dir, files.deadSummary)]);

      const left = readdirSync(dir).sort();
      const { deadLast: _a, deadSummary: _b, ...kept } = files;
      expect(left).toEqual([...Object.values(kept), deadDir].sort());
      expect(removeStaleTempFiles(dir)).toEqual([]);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('removes nothing when the folder does not exist', () => {
    expect(removeStaleTempFiles(path.join(work, 'missing'))).toEqual([]);
  });
});
