// The part of sodium-native arca uses (the package ships no type declarations).
declare module 'sodium-native' {
  /** Poly1305 one-time authenticator: writes the 16-byte tag of `input` under the 32-byte key `k` into `out`. */
  export function crypto_onetimeauth(out: Uint8Array, input: Uint8Array, k: Uint8Array): void;
  const sodium: { crypto_onetimeauth: typeof crypto_onetimeauth };
  export default sodium;
}
