/**
 * The only globals models/ may use, because Node (≥ 20), browsers and Workers all have them. models/tsconfig.json
 * compiles models/ with these and the ES2022 library alone, so reaching for the DOM, Node or Workers APIs
 * fails `npm test`. (Only models/ sees this file: the other projects use their platform's real types.)
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare function structuredClone<T>(value: T): T;
declare const crypto: { readonly subtle: { digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer> } };
interface AbortSignal {
  readonly aborted: boolean;
}
