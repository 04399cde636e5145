// tsx src/cli.ts --port 8787 --rpm 600 --tpm 60000 --enforcement quantized|continuous|bucket:1000|windows:1000 --header-lag-ms 0 --header-drop-rate 0 --latency-ms 50 --per-token-ms 20 --batch-delay-ms 5000
import { parseArgs } from 'node:util';
import { enforcementLabel, parseEnforcement } from './rate-limits';
import { startOpenAISimulator } from './simulator';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    host: { type: 'string', default: '127.0.0.1' },
    rpm: { type: 'string', default: '500' },
    tpm: { type: 'string', default: '200000' },
    enforcement: { type: 'string', default: 'continuous' },
    'latency-ms': { type: 'string', default: '0' },
    'first-token-ms': { type: 'string' },
    'per-token-ms': { type: 'string', default: '0' },
    'batch-delay-ms': { type: 'string', default: '200' },
    'header-lag-ms': { type: 'string', default: '0' },
    'header-drop-rate': { type: 'string', default: '0' },
  },
});
const enforcement = parseEnforcement(values.enforcement);
const sim = await startOpenAISimulator({
  port: Number(values.port),
  host: values.host,
  limits: { default: { rpm: Number(values.rpm), tpm: Number(values.tpm) } },
  enforcement,
  headerLagMs: Number(values['header-lag-ms']),
  headerDropRate: Number(values['header-drop-rate']),
  latency: {
    baseMs: Number(values['latency-ms']),
    firstTokenMs: values['first-token-ms'] === undefined ? undefined : Number(values['first-token-ms']),
    perTokenMs: Number(values['per-token-ms']),
  },
  batch: { completionDelayMs: Number(values['batch-delay-ms']) },
});
process.stdout.write(
  `OpenAI simulator on ${sim.url} (${values.rpm} RPM, ${values.tpm} TPM, ${enforcementLabel(enforcement)})\n`,
);
process.on('SIGINT', () => void sim.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
