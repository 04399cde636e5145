import { z } from 'zod';

/** Priority classes, highest first. Each has its own topic; the dispatcher drains them in this order. */
export const PRIORITIES = ['interactive', 'standard', 'batch'] as const;
export const PrioritySchema = z.enum(PRIORITIES);
export type Priority = z.infer<typeof PrioritySchema>;
