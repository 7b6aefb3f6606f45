/** Re-export: the replay lives in ./replay/ (see ./replay/index.ts). */
export * from './replay/index.ts';
