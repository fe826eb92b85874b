/** A tiny generated ImageFolder (PNGs written with sharp), so ImageFolder training tests need no download. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/train/rng.js';

/** Options of {@link writeSyntheticImageFolder}. */
export interface SyntheticFolderOptions {
  classes?: string[];
  /** Images per class in train/ and val/. */
  train?: number;
  val?: number;
  width?: number;
  height?: number;
  seed?: number;
  /** Name of the validation folder (timm accepts several). */
  valName?: string;
}

/**
 * Writes `<root>/train/<class>/<i>.png` and `<root>/<valName>/<class>/<i>.png`: each class a
 * different colour with a bright band at a class-dependent row, plus noise (learnable, not
 * trivial), sizes not square so crops and resizes have work to do.
 */
export async function writeSyntheticImageFolder(root: string, o: SyntheticFolderOptions = {}): Promise<string[]> {
  const classes = o.classes ?? ['ant', 'bee', 'cat'];
  const w = o.width ?? 40;
  const h = o.height ?? 36;
  const rng = new Rng(o.seed ?? 5);
  const write = async (split: string, count: number): Promise<void> => {
    for (const [c, name] of classes.entries()) {
      const dir = path.join(root, split, name);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < count; i++) {
        const px = Buffer.alloc(w * h * 3);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const band = Math.floor((y * classes.length) / h) === c ? 120 : 0;
            for (let k = 0; k < 3; k++)
              px[(y * w + x) * 3 + k] = Math.min(255, (k === c % 3 ? 100 : 20) + band + rng.int(35));
          }
        }
        writeFileSync(
          path.join(dir, `${i}.png`),
          await sharp(px, { raw: { width: w, height: h, channels: 3 } })
            .png()
            .toBuffer(),
        );
      }
    }
  };
  await write('train', o.train ?? 6);
  await write(o.valName ?? 'val', o.val ?? 2);
  return classes;
}
