/**
 * `repghost download <model>`: fetches a model's published weights into the cache
 * (or finds them there) and prints the cached path, so scripts can do
 * `w=$(repghost download repghostnet_1_0x)`. `--list` shows what can be downloaded.
 */
import type { Command } from 'commander';
import { resolvePretrained, locatePretrained } from '../../hub/download.js';
import { HubError } from '../../hub/errors.js';
import { createProgressReporter } from '../../hub/progress.js';
import { PRETRAINED_SOURCES, parseSource, pretrainedEntry, pretrainedModels } from '../../hub/registry.js';
import { fileSize } from '../../hub/cache.js';
import { UsageError } from '../errors.js';
import { table } from '../format.js';

interface DownloadFlags {
  source: string;
  offline?: boolean;
  json?: boolean;
  cacheDir?: string;
  hfEndpoint?: string;
  list?: boolean;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command('download')
    .description("download a model's published ImageNet weights into the cache (verified) and print the cached path")
    .argument(
      '[model]',
      `model with published weights: ${pretrainedModels().join(', ')} (timm names like repghostnet_100 work too)`,
    )
    .option(
      '--source <source>',
      `where from: ${PRETRAINED_SOURCES.join(' (timm safetensors on the Hugging Face hub) or ')} (the RepGhost ` +
        `release .pth.tar, EMA weights)`,
      'hf',
    )
    .option('--offline', 'never use the network (also REPGHOST_OFFLINE=1): only report the cached file')
    .option('--json', 'print one JSON object {model, source, url, path, bytes, sha256, ema} and no progress bar')
    .option(
      '--cache-dir <dir>',
      'cache directory (default $REPGHOST_CACHE, else $XDG_CACHE_HOME/repghost, else ~/.cache/repghost)',
    )
    .option(
      '--hf-endpoint <url>',
      'Hugging Face hub mirror (default $REPGHOST_HF_ENDPOINT, else https://huggingface.co)',
    )
    .option('--list', 'list the models with published weights, their top-1 and whether they are cached')
    .option(
      '--dry-run',
      'download nothing: print the URL and the cache path (two lines; JSON with --json), e.g. to fetch the file ' +
        'by hand',
    )
    .action(async (model: string | undefined, flags: DownloadFlags) => {
      const source = asUsage(() => parseSource(flags.source));
      if (flags.list) return printList(flags);
      if (!model)
        throw new UsageError(`name a model to download (one of ${pretrainedModels().join(', ')}), or pass --list`);
      const where = {
        source,
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        ...(flags.hfEndpoint ? { hfEndpoint: flags.hfEndpoint } : {}),
      };
      // Unknown models and bad endpoints: exit 2 before any I/O.
      const loc = asUsage(() => locatePretrained(model, where));
      if (flags.dryRun) {
        const cached = (await fileSize(loc.path)) !== undefined;
        const info = { model: loc.model, source: loc.source, url: loc.url, path: loc.path, ema: loc.ema, cached };
        process.stdout.write(flags.json ? `${JSON.stringify(info)}\n` : `${loc.url}\n${loc.path}\n`);
        return;
      }
      // isTTY is undefined on a pipe (the types say boolean), hence the `!!`:
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- isTTY is undefined on a pipe
      const progress = createProgressReporter({ label: model, enabled: !flags.json && !!process.stderr.isTTY });
      let r;
      try {
        r = await resolvePretrained(model, {
          ...where,
          ...(flags.offline ? { offline: true } : {}),
          onProgress: progress.onProgress,
        });
      } finally {
        progress.stop();
      }
      if (flags.json) {
        const { model: m, source: s, url, path, bytes, sha256, ema } = r;
        const info = { model: m, source: s, url, path, bytes, sha256, ema };
        process.stdout.write(
          `${JSON.stringify({ ...info, fromCache: r.fromCache, top1: r.top1, preprocess: r.preprocess })}\n`,
        );
      } else {
        process.stdout.write(`${r.path}\n`);
      }
    });
}

/** Flag values that make the registry throw are usage errors (exit code 2). */
function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HubError && (e.code === 'unknown-model' || e.code === 'bad-source' || e.code === 'bad-endpoint'))
      throw new UsageError(e.message);
    throw e;
  }
}

async function printList(flags: DownloadFlags): Promise<void> {
  const opts = {
    ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
    ...(flags.hfEndpoint ? { hfEndpoint: flags.hfEndpoint } : {}),
  };
  const rows = [];
  for (const m of pretrainedModels()) {
    const e = pretrainedEntry(m);
    const cached = [];
    for (const s of PRETRAINED_SOURCES) {
      if ((await fileSize(locatePretrained(m, { ...opts, source: s }).path)) !== undefined) cached.push(s);
    }
    rows.push({ model: m, timm: e.timmName, top1: e.official.top1, macs: e.official.macs, cached });
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const text = table(
    [
      ['model', 'timm name', 'top-1 %', 'MACs', 'cached'],
      ...rows.map((r) => [r.model, r.timm, r.top1.toFixed(2), r.macs, r.cached.join(', ') || '-']),
    ],
    [false, false, true, true, false],
  );
  process.stdout.write(`${text}\n`);
}
