// `npm start`: Sluice in its embedded default (or production roles when DATABASE_URL is set).
import { runServerProcess } from './server-process';

await runServerProcess(['api', 'dispatcher']);
