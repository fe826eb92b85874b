/**
 * The ImageFolder index on generated trees: symlink loops, files reached twice through
 * linked folders, hard links, names that are not UTF-8 (compared with torchvision's own
 * ImageFolder when Debian's python3-torchvision is installed), and the memory bound of a
 * 200,000-file tree (issue 18: at most ~400 bytes of heap per file).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { ImageFolderIndex, ImageFolderError } from '../../src/data/image-folder.js';

const work = mkdtempSync(path.join(tmpdir(), 'repghost-index-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let made = 0;
/** A fresh folder holding `files` (relative paths, created empty, parents made). */
function tree(files: string[]): string {
  const root = path.join(work, `t${made++}`);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), '');
  }
  return root;
}

const listing = (index: ImageFolderIndex): [string, number][] =>
  Array.from({ length: index.length }, (_, i) => [path.relative(index.root, index.path(i)), index.label(i)]);

describe('ImageFolderIndex: links', () => {
  it('walks each directory once: two self-links (2^40 walks in torchvision) end at once, each image once', async () => {
    const root = tree(['c0/x.jpg', 'c1/y.jpg']);
    symlinkSync('.', path.join(root, 'c0', 'a'));
    symlinkSync('.', path.join(root, 'c0', 'b'));
    symlinkSync('..', path.join(root, 'c1', 'up')); // back to the root: must not pull c0 into c1
    const index = await ImageFolderIndex.read(root);
    expect(index.classes).toEqual(['c0', 'c1']);
    expect(listing(index)).toEqual([
      ['c0/x.jpg', 0],
      ['c1/y.jpg', 1],
    ]);
  });

  it('counts a file reached again through a symlinked folder once, at its real place', async () => {
    const root = tree(['c0/sub/x.jpg', 'c0/z.png']);
    symlinkSync('sub', path.join(root, 'c0', 'a-link')); // sorts before sub: still counted as sub/x.jpg
    symlinkSync(path.join(root, 'c0', 'sub'), path.join(root, 'c0', 'abs-link'));
    const index = await ImageFolderIndex.read(root);
    // sorted(os.walk): the files of c0 itself, then those of c0/sub.
    expect(listing(index)).toEqual([
      ['c0/z.png', 0],
      ['c0/sub/x.jpg', 0],
    ]);
  });

  it('follows a symlinked folder that leads outside the class (as torchvision, followlinks=True)', async () => {
    const outside = tree(['pics/p.jpg', 'pics/deeper/q.JPEG']);
    const root = tree(['c0/z.png']);
    symlinkSync(path.join(outside, 'pics'), path.join(root, 'c0', 'more'));
    symlinkSync(path.join(outside, 'pics'), path.join(root, 'c1')); // a class folder that is a link
    const index = await ImageFolderIndex.read(root);
    expect(listing(index)).toEqual([
      ['c0/z.png', 0],
      ['c0/more/p.jpg', 0],
      ['c0/more/deeper/q.JPEG', 0],
      ['c1/p.jpg', 1],
      ['c1/deeper/q.JPEG', 1],
    ]);
  });

  it('counts hard links as torchvision does: each path', async () => {
    const root = tree(['c0/a.jpg']);
    linkSync(path.join(root, 'c0', 'a.jpg'), path.join(root, 'c0', 'b.jpg'));
    mkdirSync(path.join(root, 'c1'));
    linkSync(path.join(root, 'c0', 'a.jpg'), path.join(root, 'c1', 'c.jpg'));
    expect(listing(await ImageFolderIndex.read(root))).toEqual([
      ['c0/a.jpg', 0],
      ['c0/b.jpg', 0],
      ['c1/c.jpg', 1],
    ]);
  });
});

describe('ImageFolderIndex: names', () => {
  it('finds and opens a name that is not UTF-8; sorts names as Python does', async () => {
    const root = tree(['c0/b.jpg', 'c0/é.jpg', 'c0/A.jpg', 'c0/z.txt']);
    const name = Buffer.from([0x66, 0xff, 0x2e, 0x6a, 0x70, 0x67]); // "f\xff.jpg"
    const raw = Buffer.concat([Buffer.from(path.join(root, 'c0/')), name]);
    writeFileSync(raw, 'bytes');
    const index = await ImageFolderIndex.read(root);
    expect(index.length).toBe(4);
    const names = listing(index).map(([f]) => f);
    // Code point order, as Python sorts: "A" < "b" < "f\udcff.jpg" (surrogate-escaped byte) < "é".
    expect(names).toEqual(['c0/A.jpg', 'c0/b.jpg', 'c0/f\ufffd.jpg', 'c0/é.jpg']);
    const p = index.fsPath(2);
    expect(p).toBeInstanceOf(Uint8Array);
    expect(readFileSync(Buffer.from(p as Uint8Array), 'utf8')).toBe('bytes');
    expect(typeof index.fsPath(0)).toBe('string');
    expect(() => index.path(4)).toThrow(RangeError);
  });

  const python = '/usr/bin/python3';
  const hasTorchvision =
    existsSync(python) &&
    (() => {
      try {
        execFileSync(python, ['-c', 'import torchvision'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
  it.runIf(hasTorchvision)(
    'lists a tree exactly as torchvision.datasets.ImageFolder (no loops)',
    async () => {
      const outside = tree(['x/p.jpg']);
      const root = tree([
        'b/1.jpg',
        'b/10.jpg',
        'b/2.JPG',
        'b/sub/x.png',
        'b/sub-x/y.png',
        'b/sub.d/w.png',
        'a/k.webp',
        'a/k.txt',
        'a b/q.bmp',
        'B/Z.tif',
      ]);
      writeFileSync(
        Buffer.concat([Buffer.from(path.join(root, 'b/')), Buffer.from([0xe9, 0x2e, 0x6a, 0x70, 0x67])]),
        '',
      );
      writeFileSync(path.join(root, 'b', 'ü.jpg'), '');
      symlinkSync(path.join(outside, 'x'), path.join(root, 'b', 'lnk'));
      linkSync(path.join(root, 'b', '1.jpg'), path.join(root, 'a', 'h.jpg'));
      const script = `import os, sys, torchvision
ds = torchvision.datasets.ImageFolder(sys.argv[1], loader=lambda p: p)
print(repr(ds.classes))
for p, t in ds.samples: print(os.fsencode(p).hex(), t)`;
      const out = execFileSync(python, ['-c', script, root], { encoding: 'utf8' }).trim().split('\n');
      const index = await ImageFolderIndex.read(root);
      expect(out.slice(1)).toEqual(
        Array.from(
          { length: index.length },
          (_, i) => `${Buffer.from(index.pathBytes(i)).toString('hex')} ${index.label(i)}`,
        ),
      );
      expect(out[0]).toBe(`[${index.classes.map((c) => `'${c}'`).join(', ')}]`);
    },
    60_000,
  );

  it('a missing folder, a folder without classes and an empty class are one-line errors', async () => {
    await expect(ImageFolderIndex.read(path.join(work, 'nope'))).rejects.toThrow(/^dataset folder not found: /);
    await expect(ImageFolderIndex.read(tree(['x.jpg']))).rejects.toThrow(ImageFolderError);
    const loopOnly = tree(['c0/x.jpg']);
    mkdirSync(path.join(loopOnly, 'c1'));
    symlinkSync('.', path.join(loopOnly, 'c1', 'self'));
    await expect(ImageFolderIndex.read(loopOnly)).rejects.toThrow(/no images in class folder c1 /);
  });
});

describe('ImageFolderIndex: scale', () => {
  it('indexes 200,000 empty files holding at most 400 bytes of heap per file', async () => {
    const classes = 1000;
    const perClass = 200;
    // tmpfs when there is one: making 200k files on a loaded ext4 disk takes minutes, on tmpfs seconds.
    const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/repghost-index-') : null;
    const root = path.join(shm ?? work, 'big');
    onTestFinished(() => {
      if (shm) rmSync(shm, { recursive: true, force: true });
    });
    let t = performance.now();
    for (let c = 0; c < classes; c++) {
      const wnid = `n${String(1440764 + c * 7919).padStart(8, '0')}`;
      mkdirSync(path.join(root, wnid), { recursive: true });
      for (let k = 0; k < perClass; k++)
        closeSync(openSync(path.join(root, wnid, `${wnid}_${10000 + k * 37}.JPEG`), 'w'));
    }
    const makeMs = performance.now() - t;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = (): number => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const before = used();
    t = performance.now();
    const index = await ImageFolderIndex.read(root);
    const indexMs = performance.now() - t;
    const perFile = (used() - before) / index.length;
    expect(index.length).toBe(classes * perClass);
    expect(index.label(index.length - 1)).toBe(classes - 1);

    console.log(
      `200k-file index: tree made in ${(makeMs / 1000).toFixed(1)} s, indexed in ${(indexMs / 1000).toFixed(2)} s, ` +
        `${perFile.toFixed(1)} bytes of heap (V8 heap + array buffers, after GC) per file; typed storage ` +
        `${(index.byteSize / index.length).toFixed(1)} bytes per file`,
    );
    expect(perFile).toBeLessThanOrEqual(400);
    expect(index.path(12345)).toBe(
      path.join(root, index.classes[61]!, `${index.classes[61]}_${10000 + 145 * 37}.JPEG`),
    );
  }, 120_000);
});
