import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';
import { fitCalibration, readMeasurements, type Measurement } from './calibrate.ts';
import { buildCostModel } from './cost-model.ts';
import { defaultCluster } from './cluster-spec.ts';
import { loadModelConfig } from './model-config.ts';
import { mulberry32 } from '../core/random.ts';

test('calibration recovers c0, hbmEff, eff from synthetic measurements made with known constants', () => {
  const model = loadModelConfig('DeepSeek-V3');
  const cluster = defaultCluster(8);
  const nominal = buildCostModel({ model, cluster });
  // Ground truth, computed independently of the fit from the published constants:
  // memory term B_e / (hbmEff * HBM) = 44,040,192 / (0.8 * 3350e3) us = 16.433 us;
  // compute term 6 * 7168 * 2048 / (0.6 * 1978e6) us per token = 0.07422 us.
  const c0 = 3;
  const mem = 44_040_192 / (0.8 * 3350e3);
  const perTok = (6 * 7168 * 2048) / (0.6 * 1978e6);
  const rnd = mulberry32(5);
  const ms: Measurement[] = [];
  for (const A of [1, 4, 8, 16, 32]) {
    for (const x of [4, 16, 64, 128, 256, 512, 1024, 2048, 4096]) {
      const t = A * (c0 + Math.max(mem, perTok * x));
      ms.push({ tokens: A * x, activeExperts: A, timeUs: t * (1 + (rnd() - 0.5) * 0.01) }); // +-0.5% noise
    }
  }
  const fit = fitCalibration(nominal, ms);
  assert.ok(Math.abs(fit.c0Us - 3) < 0.3, `c0 ${fit.c0Us}`);
  assert.ok(Math.abs(fit.hbmEff - 0.8) / 0.8 < 0.02, `hbmEff ${fit.hbmEff}`);
  assert.ok(Math.abs(fit.eff - 0.6) / 0.6 < 0.02, `eff ${fit.eff}`);
  // The calibrated model predicts the truth within 1% at a point not in the set.
  const cal = buildCostModel({ model, cluster, calibrated: { c0Us: fit.c0Us, hbmEff: fit.hbmEff, eff: fit.eff }, calibrationSource: 'synthetic' });
  const truth = c0 + Math.max(mem, perTok * 700);
  const pred = cal.constants.c0Us + Math.max(cal.memUs[0], cal.tokenUs[0] * 700);
  assert.ok(Math.abs(pred - truth) / truth < 0.01);
  assert.match(cal.sources.eff, /calibration/);
});

test('measurements files: CSV and JSON, errors name the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-cal-'));
  try {
    const csv = join(dir, 'm.csv');
    writeFileSync(csv, 'tokens,active_experts,time_us\n64,8,120\n4096,8,400\n16384,8,1300\n');
    assert.deepEqual(readMeasurements(csv)[1], { tokens: 4096, activeExperts: 8, timeUs: 400 });
    const js = join(dir, 'm.json');
    writeFileSync(js, JSON.stringify({ measurements: [{ tokens: 1, activeExperts: 1, timeUs: 2 }, { tokens: 2, activeExperts: 1, timeUs: 2 }, { tokens: 3, activeExperts: 1, timeUs: 2 }] }));
    assert.equal(readMeasurements(js).length, 3);
    writeFileSync(csv, 'tokens,active_experts,time_us\n64,8,120\n64,x,1\n1,1,1\n');
    assert.throws(() => readMeasurements(csv), (e: unknown) => e instanceof InputError && e.where === 'line 3');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
