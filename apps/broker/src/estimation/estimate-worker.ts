// An estimation thread's task: measure one request (see estimator.ts for why this runs off the serving thread).
import { type MeasureResult, type MeasureTask, measureTask } from './measure';

export default function measure(task: MeasureTask): MeasureResult {
  return measureTask(task);
}
