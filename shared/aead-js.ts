/** AES-GCM in pure JS: aead.ts loads this only where neither WebCrypto nor node:crypto has it. */
export { gcm } from '@noble/ciphers/aes.js'
