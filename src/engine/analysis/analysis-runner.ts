import type { ForwardRunner } from '../runtime/types.js';

/**
 * What the analyses need of a loaded model: its shape, its weights and plain forwards (no
 * interventions), so that tests can run them on any forward implementation.
 */
export type AnalysisRunner = Pick<ForwardRunner, 'config' | 'weights' | 'provider' | 'forward'>;
