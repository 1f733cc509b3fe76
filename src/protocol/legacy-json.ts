/**
 * Results saved by an earlier version (exported JSON from before BOS, named metrics, the DLA
 * convention and census normalisation; the old shape is `git show dc91217:src/protocol/analysis.ts`),
 * brought up to the current shape with explicit defaults, each of them what the old version did:
 *
 * Analyses
 *  - `prependBos` absent → false: the old engine never prepended a BOS to a prompt (so no token has `bos`).
 *  - `trace.dla` absent → 'raw': the old trace used the checkpoint's weights as they are (z W_O).
 *  - `heads[].valueNorm` → `outputNorm`: the same quantity under its old name (mean over positions of ‖z W_O‖, b_O left out).
 *  - `metric` absent → recomputed from what the file holds: with a logit_diff trace, 'logit_diff' =
 *    `trace.actual` (the model's own logit difference); otherwise 'log_prob' = log of the target's
 *    probability at the traced position (the logit lens's final depth, which is the model's output,
 *    or the target among the predictions). Where neither is there, the value is NaN (unknown).
 *  - a census without `ceiling` and `raw`: its scores were TransformerLens's raw detector scores, and
 *    they stay raw: `raw` = the old scores, `previous`/`duplicate`/`induction` = the same (not
 *    normalised), `ceiling` 1 each, `unnormalised: true` so that views say so; labels are the old
 *    ones (threshold on raw scores). `prependBos` absent → true: the old probe began with the
 *    model's BOS, which GPT-2 checkpoints and the organism have.
 *
 * Patch sweeps (`metric`, `value`, `prependBos` absent)
 *  - with a contrast: 'logit_diff', `value` = the stored `logitDiff`, recovery as stored (it was on it);
 *  - without one the old recovery was on the raw target logit, a metric this version no longer has:
 *    'log_prob' with `value` = ln(prob) of each row and recovery recomputed on it (so the view's
 *    numbers are all of one metric); a file with a zero or missing probability is rejected;
 *  - `prependBos` → false (no BOS).
 *
 * Anything else malformed is rejected with an Error that says what is wrong (callers show it).
 */
import type { CensusEntry, HeadCensus, MetricValue, PatchSweepResult } from './analysis.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function need(value: unknown, what: string): Json {
  if (!isObject(value)) throw new Error(`Not a Circuit Trace result: ${what} is missing or not an object.`);
  return value;
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** The analysis's metric, recomputed from an old file (see the module comment). */
export function legacyAnalysisMetric(json: Json): MetricValue {
  const trace = need(json['trace'], 'trace');
  if (trace['metric'] === 'logit_diff' && trace['contrast'] !== null && trace['contrast'] !== undefined) {
    return { name: 'logit_diff', value: finite(trace['actual']) ? trace['actual'] : NaN };
  }
  const targetId = trace['targetId'];
  const lens = isObject(json['lens']) ? json['lens'] : undefined;
  const layers = lens && Array.isArray(lens['layers']) ? lens['layers'] : [];
  const final = layers[layers.length - 1];
  if (lens && lens['targetId'] === targetId && lens['position'] === trace['position'] && isObject(final) && String(final['label']).startsWith('resid_post')) {
    const p = final['targetProb'];
    if (finite(p) && p > 0) return { name: 'log_prob', value: Math.log(p) };
  }
  const predictions = Array.isArray(json['predictions']) ? json['predictions'] : [];
  const hit = predictions.find((p): p is Json => isObject(p) && p['tokenId'] === targetId);
  if (hit && finite(hit['prob']) && hit['prob'] > 0) return { name: 'log_prob', value: Math.log(hit['prob']) };
  return { name: 'log_prob', value: NaN };
}

function legacyCensus(census: Json): HeadCensus {
  const entries = Array.isArray(census['entries']) ? census['entries'] : [];
  return {
    ...(census as unknown as HeadCensus),
    prependBos: typeof census['prependBos'] === 'boolean' ? census['prependBos'] : true,
    ceiling: { previous: 1, duplicate: 1, induction: 1 },
    unnormalised: true,
    entries: entries.map((e): CensusEntry => {
      const entry = need(e, 'a census entry');
      const raw = { previous: Number(entry['previous']), duplicate: Number(entry['duplicate']), induction: Number(entry['induction']) };
      return { ...(entry as unknown as CensusEntry), ...raw, raw };
    }),
  };
}

/**
 * An analysis JSON object (analysisToJson's shape, current or old) with every field the current
 * version needs: a shallow copy, old fields filled in as documented above.
 */
export function upgradeAnalysisJson(value: unknown): Json {
  const json = need(value, 'the analysis');
  const trace = need(json['trace'], 'trace');
  need(json['model'], 'model');
  if (!Array.isArray(json['tokens'])) throw new Error('Not a Circuit Trace result: tokens is missing.');
  if (!Array.isArray(json['heads'])) throw new Error('Not a Circuit Trace result: heads is missing.');
  const out: Json = { ...json };
  if (typeof json['prependBos'] !== 'boolean') out['prependBos'] = (json['tokens'] as unknown[]).some((t) => isObject(t) && t['bos'] === true);
  if (!isObject(json['metric'])) out['metric'] = legacyAnalysisMetric(json);
  else if (json['metric']['value'] === null) out['metric'] = { ...json['metric'], value: NaN };
  if (trace['dla'] !== 'tl' && trace['dla'] !== 'raw') out['trace'] = { ...trace, dla: 'raw' };
  out['heads'] = (json['heads'] as unknown[]).map((h) => {
    const head = need(h, 'a head');
    if (finite(head['outputNorm']) || !('valueNorm' in head)) return head;
    const { valueNorm, ...rest } = head;
    return { ...rest, outputNorm: valueNorm };
  });
  const census = json['census'];
  if (isObject(census)) {
    const entries = Array.isArray(census['entries']) ? census['entries'] : [];
    const old = !isObject(census['ceiling']) || entries.some((e) => !isObject(e) || !isObject(e['raw']));
    if (old) out['census'] = legacyCensus(census);
  }
  return out;
}

/** (patched − corrupted) / (clean − corrupted), NaN below 1e-6: the engine's rule (engine/patching/patch-metric.ts `recovery`). */
function recoveryOf(patched: number, clean: number, corrupt: number): number {
  const denominator = clean - corrupt;
  return Math.abs(denominator) >= 1e-6 ? (patched - corrupt) / denominator : NaN;
}

function logProb(row: Json, what: string): number {
  const p = row['prob'];
  if (!finite(p) || p <= 0)
    throw new Error(
      `This patch sweep was saved by an earlier version without a named metric, and ${what} has no probability to compute log p from; run the sweep again.`,
    );
  return Math.log(p);
}

/** A patch sweep JSON object (current or old) with every field the current version needs (see the module comment). */
export function upgradePatchSweepJson(value: unknown): PatchSweepResult {
  const json = need(value, 'the patch sweep');
  const clean = need(json['clean'], 'clean');
  const corrupt = need(json['corrupt'], 'corrupt');
  if (!Array.isArray(json['entries'])) throw new Error('Not a Circuit Trace patch sweep: entries is missing.');
  const entries = (json['entries'] as unknown[]).map((e) => need(e, 'an entry'));
  const out: Json = { ...json };
  if (typeof json['prependBos'] !== 'boolean') out['prependBos'] = false;
  if (typeof json['metric'] !== 'string') {
    if (json['contrast'] !== null && json['contrast'] !== undefined) {
      out['metric'] = 'logit_diff';
      out['clean'] = { ...clean, value: clean['logitDiff'] };
      out['corrupt'] = { ...corrupt, value: corrupt['logitDiff'] };
      out['entries'] = entries.map((e) => ({ ...e, value: e['logitDiff'] }));
    } else {
      const c = logProb(clean, 'the clean run');
      const k = logProb(corrupt, 'the corrupted run');
      out['metric'] = 'log_prob';
      out['clean'] = { ...clean, value: c };
      out['corrupt'] = { ...corrupt, value: k };
      out['entries'] = entries.map((e, i) => {
        const v = logProb(e, `entry ${i}`);
        return { ...e, value: v, recovery: recoveryOf(v, c, k) };
      });
    }
  }
  // JSON writes an undefined recovery (NaN) as null; read it back as NaN.
  out['entries'] = (out['entries'] as Json[]).map((e) => (e['recovery'] === null ? { ...e, recovery: NaN } : e));
  return out as unknown as PatchSweepResult;
}
