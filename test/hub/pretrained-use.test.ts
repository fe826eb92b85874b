/**
 * `--pretrained` as a user meets it: predict / export / convert and RepGhost.load with
 * the hub pointed at a loopback server; the results equal loading the same file by path.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepGhost } from '../../src/node/api.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { runCliAsync } from '../helpers/cli.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';
import { startHubServer, type HubServer } from './server.js';

let srv: HubServer;
let env: Record<string, string>;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'repghost-pretrained-'));
const chelsea = sharedPath('golden', 'preprocess', 'chelsea.png');

beforeAll(async () => {
  srv = await startHubServer();
  env = { REPGHOST_HF_ENDPOINT: srv.url, REPGHOST_OFFICIAL_ENDPOINT: srv.url, REPGHOST_CACHE: path.join(tmp, 'cache') };
});
afterAll(async () => srv.close());

describe('--pretrained', () => {
  const cachedTitle =
    'predict --pretrained equals predict --weights <the cached file>, and the second run makes no request';
  it(cachedTitle, async () => {
    const a = await runCliAsync(
      ['predict', chelsea, '--pretrained', '--model', 'repghostnet_050', '--json', '--threads', '1'],
      env,
    );
    expect(a.code, a.stderr).toBe(0);
    const downloads = srv.cdnRequests().length;
    expect(downloads).toBe(1);
    const dl = await runCliAsync(['download', 'repghostnet_050', '--json', '--offline'], env);
    const cached = (JSON.parse(dl.stdout) as { path: string }).path;
    const b = await runCliAsync(
      ['predict', chelsea, '--weights', cached, '--interpolation', 'bilinear', '--json', '--threads', '1'],
      env,
    );
    expect(b.code, b.stderr).toBe(0);
    const results = (r: { stdout: string }) => (JSON.parse(r.stdout) as { results: unknown }).results;
    expect(results(a)).toEqual(results(b));
    expect(srv.cdnRequests().length).toBe(downloads);
  });
  it('RepGhost.load({ pretrained }) gives the logits of the same file loaded by path', async () => {
    Object.assign(process.env, env);
    const input = sharedTensors('golden', 'input_224.safetensors').get('input')!.data as Float32Array;
    const viaHub = await RepGhost.load({ model: 'repghostnet_050', pretrained: 'official', threads: 1 });
    expect(viaHub.preprocessConfig.interpolation).toBe('bilinear');
    const viaPath = await RepGhost.load({
      weights: sharedPath('golden', 'repghostnet_0_5x', 'checkpoint.pth'),
      ema: true,
      threads: 1,
    });
    const [x, y] = [await viaHub.infer(input, 2), await viaPath.infer(input, 2)];
    expect(maxAbsDiff(x, y)).toBe(0);
    const golden = sharedTensors('golden', 'repghostnet_0_5x', 'expected.safetensors').get('logits_deploy_ema')!
      .data as Float32Array;
    expect(maxAbsDiff(x, golden)).toBeLessThan(1e-4);
    await viaHub.dispose();
    await viaPath.dispose();
  });
  it('convert and export take --pretrained in place of the weights path', async () => {
    const out = path.join(tmp, 'deploy.safetensors');
    const c = await runCliAsync(['convert', '--pretrained', '--model', 'repghostnet_050', out, '--json'], env);
    expect(c.code, c.stderr).toBe(0);
    const ours = readSafetensors(new Uint8Array(readFileSync(out))).tensors;
    const ref = sharedTensors('golden', 'repghostnet_0_5x', 'deploy_ema.safetensors');
    let worst = 0;
    for (const [k, t] of ref)
      if (t.dtype === 'F32')
        worst = Math.max(worst, maxAbsDiff(ours.get(k)!.data as Float32Array, t.data as Float32Array));
    expect(worst).toBeLessThanOrEqual(1e-6);
    const e = await runCliAsync(
      ['export', '--pretrained', '--model', 'repghostnet_050', path.join(tmp, 'm.onnx'), '--json'],
      env,
    );
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ model: 'repghostnet_0_5x', graph: 'deploy' });
  });
  it('flag mistakes are one line each', async () => {
    const cases: [string[], RegExp][] = [
      [['predict', chelsea, '--pretrained'], /--pretrained needs --model/],
      [
        ['predict', chelsea, '--pretrained', '--model', 'repghostnet_050', '--weights', 'x.pth'],
        /either a weights file .* or --pretrained/,
      ],
      [['predict', chelsea], /no weights: give a checkpoint file, or --pretrained --model/],
      [['predict', chelsea, '--weights', 'x.pth', '--source', 'hf'], /--source goes with --pretrained/],
      [
        ['export', '--pretrained', '--model', 'repghostnet_norep_0_5x', path.join(tmp, 'x.onnx')],
        /repghostnet_norep_0_5x/,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await runCliAsync(args, env);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
  });
});
