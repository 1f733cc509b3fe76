/**
 * The head census: prompt-independent head classes from TransformerLens's standard probes.
 *
 * Probe: `batch` sequences (default 8, N = 20; N shrinks to fit a small model, see
 * fitCensusSettings), each BOS (the model's bosTokenId, 50256 for GPT-2; omitted for a model
 * without one) followed by R, `halfLength` random tokens, and then R again. R is drawn with a seeded
 * PRNG (mulberry32) without replacement from a safe id range: [256, min(vocab, 50000)) for a
 * GPT-2-sized vocabulary (skipping the raw byte tokens and the rarest late merges), [0, vocab) for
 * a tiny vocabulary; the BOS id is never drawn. Only `blocks.L.attn.hook_pattern` is requested.
 *
 * Each head's previous / duplicate / induction score is TransformerLens's detector score
 * (head-detector.ts) on one sequence, averaged over the batch, like `detect_head` on a list of
 * sequences. Note the ceilings this implies: on BOS + R + R a perfect previous-token head scores
 * 2N / (2N + 1) ≈ 0.98, and a perfect duplicate-token or induction head N / (2N + 1) ≈ 0.49
 * (only the second half's queries have a duplicate), which is why the default threshold is 0.35.
 *
 * Labels use the same rule as the prompt's head classes (head-classes.ts, `classifyHead`).
 */
import type { CensusEntry, HeadCensus } from '../../protocol/analysis.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { layerHook, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { classifyHead, DEFAULT_HEAD_THRESHOLD } from './head-classes.js';
import { detectionPattern, detectionScore } from './head-detector.js';
import { mulberry32, randomInt } from './seeded-random.js';

export interface CensusSettings {
  batch: number;
  /** Length N of the random block R (each sequence is BOS, R, R). */
  halfLength: number;
  seed: number;
  /** Label threshold. */
  threshold: number;
}

export const DEFAULT_CENSUS_SETTINGS: Readonly<CensusSettings> = { batch: 8, halfLength: 20, seed: 1234, threshold: DEFAULT_HEAD_THRESHOLD };

/** [lo, hi) of the token ids the probe draws from. */
export function censusTokenRange(dVocab: number): [number, number] {
  return dVocab > 1024 ? [256, Math.min(dVocab, 50000)] : [0, dVocab];
}

/**
 * The layout actually probed on a model: the block length shrinks to what the model's context
 * (BOS + 2N ≤ n_ctx) and vocabulary (N distinct ids in the safe range) allow; the census reports it.
 */
export function fitCensusSettings<S extends Pick<CensusSettings, 'halfLength'>>(settings: S, config: Pick<ModelConfig, 'dVocab' | 'nCtx' | 'bosTokenId'>): S {
  const bos = config.bosTokenId;
  const [lo, hi] = censusTokenRange(config.dVocab);
  const available = hi - lo - (bos !== null && bos >= lo && bos < hi ? 1 : 0);
  const halfLength = Math.min(settings.halfLength, Math.floor((config.nCtx - (bos === null ? 0 : 1)) / 2), available);
  if (halfLength < 2) throw new EngineError('BAD_ARGUMENT', `The model's context (${config.nCtx}) or vocabulary (${config.dVocab}) is too small for the head census.`);
  return { ...settings, halfLength };
}

/** The probe's token sequences: batch × (BOS?, R, R). */
export function censusSequences(settings: Pick<CensusSettings, 'batch' | 'halfLength' | 'seed'>, config: Pick<ModelConfig, 'dVocab' | 'nCtx' | 'bosTokenId'>): number[][] {
  const { batch, halfLength, seed } = settings;
  const bos = config.bosTokenId;
  const prefix = bos === null ? 0 : 1;
  if (!Number.isInteger(batch) || batch < 1) throw new EngineError('BAD_ARGUMENT', `The census batch must be a positive integer, got ${batch}.`);
  if (!Number.isInteger(halfLength) || halfLength < 1) throw new EngineError('BAD_ARGUMENT', `The census block length must be a positive integer, got ${halfLength}.`);
  if (prefix + 2 * halfLength > config.nCtx) {
    throw new EngineError('BAD_ARGUMENT', `A census sequence of ${prefix + 2 * halfLength} tokens does not fit the model's context of ${config.nCtx}.`, 'Use a shorter census block.');
  }
  const [lo, hi] = censusTokenRange(config.dVocab);
  const available = hi - lo - (bos !== null && bos >= lo && bos < hi ? 1 : 0);
  if (available < halfLength) throw new EngineError('BAD_ARGUMENT', `The vocabulary has only ${available} usable ids for a census block of ${halfLength} distinct tokens.`);
  const random = mulberry32(seed);
  const sequences: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const block: number[] = [];
    const used = new Set<number>();
    while (block.length < halfLength) {
      const id = randomInt(random, lo, hi);
      if (id === bos || used.has(id)) continue;
      used.add(id);
      block.push(id);
    }
    sequences.push([...(bos === null ? [] : [bos]), ...block, ...block]);
  }
  return sequences;
}

/** Detector scores of every head, [layer, head] each, averaged over the probe batch. */
export interface CensusScores {
  batch: number;
  halfLength: number;
  seed: number;
  nLayers: number;
  nHeads: number;
  previous: Float64Array;
  duplicate: Float64Array;
  induction: Float64Array;
}

/** Runs the probe and scores every head. `batch` forwards of 2N + 1 tokens, patterns only. */
export async function computeCensusScores(runner: AnalysisRunner, settings: Pick<CensusSettings, 'batch' | 'halfLength' | 'seed'>, signal?: AbortSignal): Promise<CensusScores> {
  const { nLayers, nHeads } = runner.config;
  const fitted = fitCensusSettings(settings, runner.config);
  const sequences = censusSequences(fitted, runner.config);
  const hooks: HookName[] = [];
  for (let l = 0; l < nLayers; l++) hooks.push(layerHook(l, 'attn.hook_pattern'));
  const previous = new Float64Array(nLayers * nHeads);
  const duplicate = new Float64Array(nLayers * nHeads);
  const induction = new Float64Array(nLayers * nHeads);
  for (const ids of sequences) {
    throwIfCancelled(signal);
    const { cache } = await runner.forward(ids, { hooks, ...(signal ? { signal } : {}) });
    const detections = [detectionPattern('previous', ids), detectionPattern('duplicate', ids), detectionPattern('induction', ids)] as const;
    for (let l = 0; l < nLayers; l++) {
      const pattern = cache.get(layerHook(l, 'attn.hook_pattern'));
      if (!pattern) throw new EngineError('INTERNAL', `The forward pass did not return blocks.${l}.attn.hook_pattern.`);
      for (let h = 0; h < nHeads; h++) {
        const i = l * nHeads + h;
        previous[i] = previous[i]! + detectionScore(pattern, h, detections[0]) / sequences.length;
        duplicate[i] = duplicate[i]! + detectionScore(pattern, h, detections[1]) / sequences.length;
        induction[i] = induction[i]! + detectionScore(pattern, h, detections[2]) / sequences.length;
      }
    }
  }
  return { ...pick(fitted), nLayers, nHeads, previous, duplicate, induction };
}

function pick(s: Pick<CensusSettings, 'batch' | 'halfLength' | 'seed'>): { batch: number; halfLength: number; seed: number } {
  return { batch: s.batch, halfLength: s.halfLength, seed: s.seed };
}

/** Labels the scores with a threshold: the serialisable census of the analysis result. */
export function labelCensus(scores: CensusScores, threshold: number): HeadCensus {
  const entries: CensusEntry[] = [];
  for (let l = 0; l < scores.nLayers; l++) {
    for (let h = 0; h < scores.nHeads; h++) {
      const i = l * scores.nHeads + h;
      const previous = scores.previous[i]!;
      const duplicate = scores.duplicate[i]!;
      const induction = scores.induction[i]!;
      entries.push({ layer: l, head: h, previous, duplicate, induction, label: classifyHead({ previous, duplicate, induction }, threshold) });
    }
  }
  return { batch: scores.batch, halfLength: scores.halfLength, seed: scores.seed, threshold, entries };
}

/**
 * Census scores cached per loaded model (keyed by the runner object, so a disposed model's entry
 * goes with it) and per probe layout; the threshold only relabels. Concurrent requests share one
 * computation (so cancelling the request that started it fails the others too); a failed or
 * cancelled one is forgotten so that the next request retries.
 */
export class HeadCensusCache {
  private readonly byRunner = new WeakMap<AnalysisRunner, Map<string, Promise<CensusScores>>>();

  async get(runner: AnalysisRunner, settings: Partial<CensusSettings> = {}, signal?: AbortSignal): Promise<HeadCensus> {
    const full = fitCensusSettings({ ...DEFAULT_CENSUS_SETTINGS, ...settings }, runner.config);
    const key = `${full.batch}/${full.halfLength}/${full.seed}`;
    let perRunner = this.byRunner.get(runner);
    if (!perRunner) {
      perRunner = new Map();
      this.byRunner.set(runner, perRunner);
    }
    let pending = perRunner.get(key);
    if (!pending) {
      pending = computeCensusScores(runner, full, signal);
      perRunner.set(key, pending);
      const map = perRunner;
      pending.catch(() => {
        if (map.get(key) === pending) map.delete(key);
      });
    }
    return labelCensus(await pending, full.threshold);
  }

  /** Whether scores for this model and layout are already computed or under way. */
  has(runner: AnalysisRunner, settings: Partial<CensusSettings> = {}): boolean {
    const full = fitCensusSettings({ ...DEFAULT_CENSUS_SETTINGS, ...settings }, runner.config);
    return this.byRunner.get(runner)?.has(`${full.batch}/${full.halfLength}/${full.seed}`) ?? false;
  }
}

