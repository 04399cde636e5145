// tsx src/cli.ts --port 8787 --rpm 600 --tpm 60000 --enforcement quantized --latency-ms 50 --per-token-ms 20 --batch-delay-ms 5000
import { parseArgs } from 'node:util';
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
  },
});
const enforcement = values.enforcement === 'quantized' ? 'quantized' : 'continuous';
const sim = await startOpenAISimulator({
  port: Number(values.port),
  host: values.host,
  limits: { default: { rpm: Number(values.rpm), tpm: Number(values.tpm) } },
  enforcement,
  latency: {
    baseMs: Number(values['latency-ms']),
    firstTokenMs: values['first-token-ms'] === undefined ? undefined : Number(values['first-token-ms']),
    perTokenMs: Number(values['per-token-ms']),
  },
  batch: { completionDelayMs: Number(values['batch-delay-ms']) },
});
process.stdout.write(
  `OpenAI simulator on ${sim.url} (${values.rpm} RPM, ${values.tpm} TPM, ${enforcement})\n`,
);
process.on('SIGINT', () => void sim.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
