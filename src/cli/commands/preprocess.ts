/**
 * `repghost preprocess <image> <out.safetensors> [--png view.png]`: one image through the
 * eval pipeline, saved as the model input tensor (and optionally as the picture the
 * model sees).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { modelInputToRgb, preprocess, resolvePreprocessConfig } from '../../data/preprocess.js';
import { writeSafetensors } from '../../weights/safetensors.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { clobberedInput } from '../../node/output-guard.js';
import { UsageError } from '../errors.js';
import { addPreprocessOptions, preprocessConfigFrom, type PreprocessFlags } from '../flags.js';

export function register(program: Command): void {
  const cmd = program
    .command('preprocess')
    .description(
      'run one image through the eval pipeline ' +
        '(EXIF orientation, PIL-exact resize, center crop, ImageNet normalization) ' +
        'and save the [1, 3, size, size] float32 tensor as safetensors (key "input")',
    )
    .argument('<image>', 'image file (JPEG, PNG, WebP, GIF, TIFF, AVIF)')
    .argument('<out>', 'output .safetensors file')
    .option('--png <file>', 'also write the picture the model sees (the tensor de-normalized) as PNG');
  addPreprocessOptions(cmd, 'bicubic').action(
    async (image: string, out: string, opts: PreprocessFlags & { png?: string }) => {
      if (path.extname(out).toLowerCase() !== '.safetensors')
        throw new UsageError(`output ${out}: use a .safetensors extension`);
      if (opts.png && path.extname(opts.png).toLowerCase() !== '.png')
        throw new UsageError(`--png ${opts.png}: use a .png extension`);
      if (clobberedInput(out, [image]) || (opts.png && clobberedInput(opts.png, [image, out])))
        throw new UsageError(
          'an output would overwrite the input image or the other output: choose another output path',
        );
      const config = resolvePreprocessConfig(preprocessConfigFrom(opts));
      // Native sharp loaded on demand (the shared flag helpers above are imported by other commands).
      const { decodeImageFile } = await import('../../node/decode.js');
      const chw = preprocess(await decodeImageFile(image), config);
      const tensors = new Map([
        ['input', { dtype: 'F32' as const, shape: [1, 3, config.size, config.size], data: chw }],
      ]);
      await writeFileAtomic(
        out,
        writeSafetensors(tensors, {
          source: path.basename(image),
          interpolation: config.interpolation,
          crop_pct: String(config.cropPct),
          size: String(config.size),
          mean: config.mean.join(','),
          std: config.std.join(','),
        }),
      );
      let msg =
        `wrote ${out}: input [1, 3, ${config.size}, ${config.size}] ` +
        `(${config.interpolation}, crop_pct ${config.cropPct})`;
      if (opts.png) {
        const view = modelInputToRgb(chw, config);
        const { default: sharp } = await import('sharp');
        const png = await sharp(view.data, { raw: { width: view.width, height: view.height, channels: 3 } })
          .png()
          .toBuffer();
        await writeFileAtomic(opts.png, png);
        msg += `, ${opts.png}`;
      }
      process.stdout.write(`${msg}\n`);
    },
  );
}
