export type Priority = 'interactive' | 'standard' | 'batch';

/** Highest first. */
export const PRIORITIES: readonly Priority[] = ['interactive', 'standard', 'batch'];
