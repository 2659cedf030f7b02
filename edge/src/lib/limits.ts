/** Per-request limits of the embeddings API (both request shapes). */
export const MAX_PROMPTS = 16;
export const MAX_PROMPT_CHARS = 1000;
