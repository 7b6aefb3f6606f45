import { writeTraceFile } from '../src/ingest/ballast/writer.ts';
import { zipfRoutes } from '../src/predict/synthetic.ts';
const routes = zipfRoutes({ tokens: 400000, layers: 60, experts: 256, topK: 8, s: 0.8, seed: 7 });
writeTraceFile('/tmp/big.ballast', { routes } as never);
