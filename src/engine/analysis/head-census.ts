/**
 * The head census: prompt-independent head classes from TransformerLens's standard probes.
 *
 * Probe: `batch` sequences (default 8, N = 20; N shrinks to fit a small model, see
 * fitCensusSettings), each BOS (the model's bosTokenId, 50256 for GPT-2; omitted for a model
 * without one, or with `prependBos: false`: the same rule as the analysed prompt's) followed by R, `halfLength` random tokens, and then R again. R is drawn with a seeded
 * PRNG (mulberry32) without replacement from a safe id range: [256, min(vocab, 50000)) for a
 * GPT-2-sized vocabulary (skipping the raw byte tokens and the rarest late merges), [0, vocab) for
 * a tiny vocabulary; the BOS id is never drawn. Only `blocks.L.attn.hook_pattern` is requested.
 *
 * Each head's previous / duplicate / induction score is TransformerLens's detector score
 * (head-detector.ts) on one sequence, averaged over the batch, like `detect_head` on a list of
 * sequences. These raw scores have ceilings below 1: each query row carries one unit of
 * attention and only rows with a detection cell can score, so on BOS + R + R a perfect
 * previous-token head scores 2N / (2N + 1) ≈ 0.98 (every row but BOS's), and a perfect
 * duplicate-token or induction head N / (2N + 1) ≈ 0.49 (only the second R's rows have a
 * duplicate); without a BOS, (2N − 1) / 2N and N / 2N. The ceiling is computed from the detection
 * patterns themselves (detectionCeiling), and the census reports each score both raw (what
 * TransformerLens's `detect_head` returns) and normalised by its class's ceiling (1 = a perfect
 * head); the label threshold applies to the normalised scores, as it does to the prompt's own
 * classes.
 *
 * Labels use the same rule as the prompt's head classes (head-classes.ts, `classifyHead`).
 */
import type { CensusEntry, CensusScoreSet, HeadCensus } from '../../protocol/analysis.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { layerHook, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { classifyHead, DEFAULT_HEAD_THRESHOLD } from './head-classes.js';
import { bosToPrepend } from './prompt-input.js';
import { detectionCeiling, detectionPattern, detectionScore } from './head-detector.js';
import { mulberry32, randomInt } from './seeded-random.js';

export interface CensusSettings {
  batch: number;
  /** Length N of the random block R (each sequence is BOS, R, R). */
  halfLength: number;
  seed: number;
  /** Label threshold. */
  threshold: number;
  /** Start each sequence with the model's BOS when it has one (the prompt's prependBos rule). */
  prependBos: boolean;
}

export const DEFAULT_CENSUS_SETTINGS: Readonly<CensusSettings> = { batch: 8, halfLength: 20, seed: 1234, threshold: DEFAULT_HEAD_THRESHOLD, prependBos: true };

/** The BOS id the probe sequences start with, or null: the prompt's rule (bosToPrepend). */
function probeBos(settings: { prependBos?: boolean }, config: Pick<ModelConfig, 'bosTokenId'>): number | null {
  return bosToPrepend(config, settings.prependBos);
}

/** How many distinct ids the probe can draw: the safe range, less the BOS when it lies inside. */
function drawableIdCount(dVocab: number, bos: number | null): number {
  const [lo, hi] = censusTokenRange(dVocab);
  return hi - lo - (bos !== null && bos >= lo && bos < hi ? 1 : 0);
}

/** [lo, hi) of the token ids the probe draws from. */
export function censusTokenRange(dVocab: number): [number, number] {
  return dVocab > 1024 ? [256, Math.min(dVocab, 50000)] : [0, dVocab];
}

/**
 * The layout actually probed on a model: the block length shrinks to what the model's context
 * (BOS + 2N ≤ n_ctx) and vocabulary (N distinct ids in the safe range) allow; the census reports it.
 */
export function fitCensusSettings<S extends Pick<CensusSettings, 'halfLength'> & { prependBos?: boolean }>(
  settings: S,
  config: Pick<ModelConfig, 'dVocab' | 'nCtx' | 'bosTokenId'>,
): S {
  const bos = probeBos(settings, config);
  const available = drawableIdCount(config.dVocab, bos);
  const halfLength = Math.min(settings.halfLength, Math.floor((config.nCtx - (bos === null ? 0 : 1)) / 2), available);
  if (halfLength < 2)
    throw new EngineError('BAD_ARGUMENT', `The model's context (${config.nCtx}) or vocabulary (${config.dVocab}) is too small for the head census.`);
  return { ...settings, halfLength };
}

/** The probe's token sequences: batch × (BOS?, R, R). */
export function censusSequences(
  settings: Pick<CensusSettings, 'batch' | 'halfLength' | 'seed'> & { prependBos?: boolean },
  config: Pick<ModelConfig, 'dVocab' | 'nCtx' | 'bosTokenId'>,
): number[][] {
  const { batch, halfLength, seed } = settings;
  const bos = probeBos(settings, config);
  const prefix = bos === null ? 0 : 1;
  if (!Number.isInteger(batch) || batch < 1) throw new EngineError('BAD_ARGUMENT', `The census batch must be a positive integer, got ${batch}.`);
  if (!Number.isInteger(halfLength) || halfLength < 1)
    throw new EngineError('BAD_ARGUMENT', `The census block length must be a positive integer, got ${halfLength}.`);
  if (prefix + 2 * halfLength > config.nCtx) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `A census sequence of ${prefix + 2 * halfLength} tokens does not fit the model's context of ${config.nCtx}.`,
      'Use a shorter census block.',
    );
  }
  const available = drawableIdCount(config.dVocab, bos);
  if (available < halfLength)
    throw new EngineError('BAD_ARGUMENT', `The vocabulary has only ${available} usable ids for a census block of ${halfLength} distinct tokens.`);
  const [lo, hi] = censusTokenRange(config.dVocab);
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
  prependBos: boolean;
  nLayers: number;
  nHeads: number;
  previous: Float64Array;
  duplicate: Float64Array;
  induction: Float64Array;
  /** The largest raw score of each class on the probe, averaged over the batch like the scores. */
  ceiling: CensusScoreSet;
}

/** Runs the probe and scores every head. `batch` forwards of 2N + 1 tokens, patterns only. */
export async function computeCensusScores(
  runner: AnalysisRunner,
  settings: Pick<CensusSettings, 'batch' | 'halfLength' | 'seed'> & { prependBos?: boolean },
  signal?: AbortSignal,
): Promise<CensusScores> {
  const { nLayers, nHeads } = runner.config;
  const fitted = fitCensusSettings(settings, runner.config);
  const sequences = censusSequences(fitted, runner.config);
  const hooks: HookName[] = [];
  for (let l = 0; l < nLayers; l++) hooks.push(layerHook(l, 'attn.hook_pattern'));
  const previous = new Float64Array(nLayers * nHeads);
  const duplicate = new Float64Array(nLayers * nHeads);
  const induction = new Float64Array(nLayers * nHeads);
  const ceiling: CensusScoreSet = { previous: 0, duplicate: 0, induction: 0 };
  for (const ids of sequences) {
    throwIfCancelled(signal);
    const { cache } = await runner.forward(ids, { hooks, ...(signal ? { signal } : {}) });
    const detections = [detectionPattern('previous', ids), detectionPattern('duplicate', ids), detectionPattern('induction', ids)] as const;
    ceiling.previous += detectionCeiling(detections[0], ids.length) / sequences.length;
    ceiling.duplicate += detectionCeiling(detections[1], ids.length) / sequences.length;
    ceiling.induction += detectionCeiling(detections[2], ids.length) / sequences.length;
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
  return { ...pick(fitted), prependBos: probeBos(fitted, runner.config) !== null, nLayers, nHeads, previous, duplicate, induction, ceiling };
}

function pick(s: Pick<CensusSettings, 'batch' | 'halfLength' | 'seed'>): { batch: number; halfLength: number; seed: number } {
  return { batch: s.batch, halfLength: s.halfLength, seed: s.seed };
}

/** A raw score as a share of its ceiling (0 when the probe leaves the class no cell to score on). */
function normalise(raw: number, ceiling: number): number {
  return ceiling > 0 ? raw / ceiling : 0;
}

/** Labels the normalised scores with a threshold: the serialisable census of the analysis result. */
export function labelCensus(scores: CensusScores, threshold: number): HeadCensus {
  const entries: CensusEntry[] = [];
  for (let l = 0; l < scores.nLayers; l++) {
    for (let h = 0; h < scores.nHeads; h++) {
      const i = l * scores.nHeads + h;
      const raw: CensusScoreSet = { previous: scores.previous[i]!, duplicate: scores.duplicate[i]!, induction: scores.induction[i]! };
      const normalised: CensusScoreSet = {
        previous: normalise(raw.previous, scores.ceiling.previous),
        duplicate: normalise(raw.duplicate, scores.ceiling.duplicate),
        induction: normalise(raw.induction, scores.ceiling.induction),
      };
      entries.push({ layer: l, head: h, ...normalised, raw, label: classifyHead(normalised, threshold) });
    }
  }
  return {
    batch: scores.batch,
    halfLength: scores.halfLength,
    seed: scores.seed,
    prependBos: scores.prependBos,
    threshold,
    ceiling: { ...scores.ceiling },
    entries,
  };
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
    const key = `${full.batch}/${full.halfLength}/${full.seed}/${full.prependBos}`;
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
    return this.byRunner.get(runner)?.has(`${full.batch}/${full.halfLength}/${full.seed}/${full.prependBos}`) ?? false;
  }
}
