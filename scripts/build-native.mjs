#!/usr/bin/env node
// Builds the optional native addons with node-gyp at install time: the training kernels
// (native/), the MPI binding (native/mpi) and the JPEG decoder (native/jpeg). Optional by
// design: without a C++ compiler (or Open MPI, or libjpeg's headers), or with
// REPGHOST_NATIVE=0, the install still succeeds: training runs on the TypeScript / wasm
// kernels (what a browser uses anyway) and JPEGs decode through sharp. One line each.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
if (process.env.REPGHOST_NATIVE === '0') {
  console.log('repghost: native addons skipped (REPGHOST_NATIVE=0); training uses the wasm kernels, JPEGs sharp');
  process.exit(0);
}
if (!existsSync(path.join(nativeDir, 'binding.gyp'))) process.exit(0);
// node-gyp is on PATH inside npm scripts; otherwise use the copy bundled with npm.
const npmGyp = path.join(
  path.dirname(process.execPath),
  '..',
  'lib',
  'node_modules',
  'npm',
  'node_modules',
  'node-gyp',
  'bin',
  'node-gyp.js',
);
const [cmd, args] =
  process.env.npm_lifecycle_event || !existsSync(npmGyp) ? ['node-gyp', []] : [process.execPath, [npmGyp]];
/** node-gyp rebuild in `dir`: null when built, else the first error line. */
function gypRebuild(dir) {
  const r = spawnSync(cmd, [...args, 'rebuild', '--release'], {
    cwd: dir,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  });
  if (r.status === 0) return null;
  return (
    r.error?.message ??
    `${r.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l)) ??
    `exit ${r.status}`
  ).trim();
}

const t0 = Date.now();
const why = gypRebuild(nativeDir);
if (why === null) {
  console.log(`repghost: native kernels built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} else {
  console.log(`repghost: native kernels not built (${why.slice(0, 160)}); training uses the wasm kernels`);
}

// The MPI binding (data-parallel training, native/mpi): only where Open MPI's compiler
// wrapper is installed (Debian: openmpi-bin libopenmpi-dev); one process training never needs it.
const mpiDir = path.join(nativeDir, 'mpi');
const hasMpicc = spawnSync('mpicc', ['--showme:compile'], { encoding: 'utf8' }).status === 0;
if (existsSync(path.join(mpiDir, 'binding.gyp'))) {
  if (!hasMpicc) {
    console.log(
      'repghost: MPI binding skipped (no mpicc; install openmpi-bin libopenmpi-dev for multi-process training)',
    );
  } else {
    const t1 = Date.now();
    const whyMpi = gypRebuild(mpiDir);
    console.log(
      whyMpi === null
        ? `repghost: MPI binding built in ${((Date.now() - t1) / 1000).toFixed(1)} s`
        : `repghost: MPI binding not built (${whyMpi.slice(0, 160)}); multi-process training unavailable`,
    );
  }
}

// The JPEG decoder binding (native/jpeg): the system libjpeg(-turbo), Pillow's own decoder,
// for the data pipelines' JPEGs. Without it (Debian: libjpeg-dev) JPEGs decode through sharp.
const jpegDir = path.join(nativeDir, 'jpeg');
if (existsSync(path.join(jpegDir, 'binding.gyp'))) {
  const t2 = Date.now();
  const whyJpeg = gypRebuild(jpegDir);
  console.log(
    whyJpeg === null
      ? `repghost: JPEG decoder built in ${((Date.now() - t2) / 1000).toFixed(1)} s`
      : `repghost: JPEG decoder not built (${whyJpeg.slice(0, 160)}; install libjpeg-dev); JPEGs decode through sharp`,
  );
}
