/**
 * Prediction: cost model, replay, gate, simulate (docs/predict.md). What other commands import.
 */
export { loadModelConfig, expertBytes, modelPresetNames, type ModelConfig } from './model-config.ts';
export { buildCostModel, parseOverrides, explainCostModel, renderExplain, type CostModel, type ConstantName } from './cost-model.ts';
export { resolveCluster, defaultCluster } from './cluster-spec.ts';
export { replayPolicies, replayPolicy, summarize, type PolicySpec, type PolicySummary, type ReplaySource } from './replay.ts';
export { gateDecision, predictAndGate, renderGate, type GateDecision, type GateInput, type PredictAndGateInput, type PredictAndGateResult } from './gate.ts';
export { simulate, type SimulationResult } from './simulate.ts';
export { fitCalibration, readMeasurements } from './calibrate.ts';
