/** Models the simulator serves (ids as OpenAI lists them). */
export const SIMULATED_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-5',
  'gpt-5-mini',
  'o3',
  'o4-mini',
  'gpt-4',
  'gpt-3.5-turbo',
] as const;
