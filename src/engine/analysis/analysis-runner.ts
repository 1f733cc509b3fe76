import type { ForwardRunner } from '../runtime/types.js';

/**
 * What the analyses need of a loaded model: its shape, its weights and plain forwards, so that
 * tests can run them on any forward implementation. When the runner can also `intervene`, the
 * logit lens runs its unembeddings on it (see lens-unembed.ts) instead of in JavaScript.
 */
export type AnalysisRunner = Pick<ForwardRunner, 'config' | 'weights' | 'provider' | 'forward'> & Partial<Pick<ForwardRunner, 'intervene'>>;
