/**
 * The clean prompt, corrupted prompt, target and contrast fields that the patching and attribution
 * forms share (inside the form's own `.patch-form` grid).
 */
export interface PromptPairValues {
  clean: string;
  corrupt: string;
  target: string;
  contrast: string;
}

export interface PromptPairFieldsProps {
  values: PromptPairValues;
  onChange(field: keyof PromptPairValues, value: string): void;
}

export function PromptPairFields({ values, onChange }: PromptPairFieldsProps) {
  const input = (field: keyof PromptPairValues) => (e: Event) => onChange(field, (e.target as HTMLInputElement | HTMLTextAreaElement).value);
  return (
    <>
      <label class="field wide">
        <span>Clean prompt</span>
        <textarea rows={2} value={values.clean} onInput={input('clean')} />
      </label>
      <label class="field wide">
        <span>Corrupt prompt</span>
        <textarea rows={2} value={values.corrupt} placeholder="Same length in tokens, with the key information changed" onInput={input('corrupt')} />
      </label>
      <label class="field">
        <span>Target</span>
        <input type="text" value={values.target} placeholder=" Mary" onInput={input('target')} />
      </label>
      <label class="field">
        <span>Contrast (optional)</span>
        <input type="text" value={values.contrast} placeholder=" John" onInput={input('contrast')} />
      </label>
    </>
  );
}
