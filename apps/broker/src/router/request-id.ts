import { z } from 'zod';

export const RequestIdSchema = z
  .string()
  .min(5)
  .max(64)
  .regex(/^req_[A-Za-z0-9_-]+$/, 'must be a request id such as req_…');
