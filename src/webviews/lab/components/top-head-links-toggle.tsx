/**
 * The switch that draws the trace's top heads by |DLA| and their (unmeasured) links, in the model
 * grid and the circuit trace. One setting for the whole panel, kept in its persisted state.
 */
import { TOP_HEAD_LINKS_LABEL } from '../shared/top-head-links.js';
import { useLab } from './lab-context.js';

export function TopHeadLinksToggle() {
  const { state, actions } = useLab();
  const shown = state.topHeadLinks;
  // A fixed name with aria-pressed (a toggle button's state is announced, not renamed).
  const label = `Draw the ${TOP_HEAD_LINKS_LABEL}`;
  return (
    <button
      type="button"
      class={`toggle-button${shown ? ' active' : ''}`}
      aria-pressed={shown}
      aria-label={label}
      title={label}
      onClick={() => actions.setTopHeadLinks(!shown)}
    >
      <span class="codicon codicon-type-hierarchy" aria-hidden="true" /> top heads
    </button>
  );
}
