// Entry of an estimation thread: Sluice ships TypeScript sources, so the thread loads them through tsx.
import { register } from 'tsx/esm/api';

register();
const { default: measure } = await import('./estimate-worker.ts');
export default measure;
