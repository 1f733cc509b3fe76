/**
 * The Heads view's content: the current analysis's heads grouped by class, each group sorted by
 * the class's score, with scores and direct logit attribution in the description. The tooltip
 * gives the prompt's own scores, the head census's scores (normalised by the class's ceiling, the
 * raw detector score beside each; an old census read back unnormalised says so) and the output norm.
 * Pure: no vscode import.
 */
import type { CensusEntry, HeadCensus, HeadLabel, HeadSummary } from '../../protocol/analysis.js';
import { formatSigned } from '../format/token-text.js';

export interface HeadItem {
  layer: number;
  head: number;
  name: string;
  label: HeadLabel;
  /** The score of the class it is grouped under (null: undefined on this prompt). */
  score: number | null;
  description: string;
  tooltip: string;
}

export interface HeadGroup {
  label: HeadLabel;
  title: string;
  heads: HeadItem[];
}

const GROUP_ORDER: readonly HeadLabel[] = ['induction', 'duplicate-token', 'previous-token', 'diffuse', 'no evidence'];

const GROUP_TITLES: Readonly<Record<HeadLabel, string>> = {
  induction: 'Induction',
  'duplicate-token': 'Duplicate token',
  'previous-token': 'Previous token',
  diffuse: 'Diffuse',
  'no evidence': 'No evidence',
};

function fmt(score: number | null): string {
  return score === null ? '—' : score.toFixed(2);
}

function classScore(h: HeadSummary): number | null {
  switch (h.label) {
    case 'induction':
      return h.scores.induction;
    case 'duplicate-token':
      return h.scores.duplicate;
    case 'previous-token':
      return h.scores.previous;
    default:
      return null;
  }
}

/** The census line of a head's tooltip: normalised scores with the raw ones beside them. */
export function censusLine(census: HeadCensus, e: CensusEntry): string {
  if (census.unnormalised) {
    return `census: raw detector scores, not normalised (saved by an earlier version): previous-token ${fmt(e.raw.previous)} · duplicate-token ${fmt(e.raw.duplicate)} · induction ${fmt(e.raw.induction)} — ${e.label}`;
  }
  const score = (k: keyof CensusEntry['raw']) => `${fmt(e[k])} (raw ${fmt(e.raw[k])})`;
  return `census, normalised to the class's ceiling (raw): previous-token ${score('previous')} · duplicate-token ${score('duplicate')} · induction ${score('induction')} — ${e.label}`;
}

export function groupHeads(heads: readonly HeadSummary[], census: HeadCensus | null = null): HeadGroup[] {
  const byLabel = new Map<HeadLabel, HeadItem[]>();
  for (const h of heads) {
    const censusEntry = census?.entries.find((e) => e.layer === h.layer && e.head === h.head);
    const score = classScore(h);
    const item: HeadItem = {
      layer: h.layer,
      head: h.head,
      name: h.name,
      label: h.label,
      score,
      description: `${score === null ? '' : `${fmt(score)} · `}DLA ${formatSigned(h.dla)}`,
      tooltip: [
        `${h.name}: ${GROUP_TITLES[h.label]}`,
        `this prompt: previous-token ${fmt(h.scores.previous)} · duplicate-token ${fmt(h.scores.duplicate)} · induction ${fmt(h.scores.induction)}`,
        ...(census && censusEntry ? [censusLine(census, censusEntry)] : []),
        `direct logit attribution ${formatSigned(h.dla)}`,
        `entropy ${h.entropy.toFixed(2)} nats (${(h.entropyNormalized * 100).toFixed(0)}% of max) · concentration ${h.concentration.toFixed(2)} · output norm ${h.outputNorm.toFixed(2)}`,
      ].join('\n'),
    };
    const list = byLabel.get(h.label) ?? [];
    list.push(item);
    byLabel.set(h.label, list);
  }
  const groups: HeadGroup[] = [];
  for (const label of GROUP_ORDER) {
    const items = byLabel.get(label);
    if (!items || items.length === 0) continue;
    // Classed heads by their class score; the rest by the size of their direct effect.
    const dla = new Map(heads.map((h) => [h.name, Math.abs(h.dla)]));
    items.sort(
      (a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity) || (dla.get(b.name) ?? 0) - (dla.get(a.name) ?? 0) || a.layer - b.layer || a.head - b.head,
    );
    groups.push({ label, title: `${GROUP_TITLES[label]} (${items.length})`, heads: items });
  }
  return groups;
}
