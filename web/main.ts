/// <reference types="vite/client" />
import { mount } from 'svelte'
import App from './ui/App.svelte'
import { loadNode } from './ui/node-loader.ts'

// A room link: fetch the node chunk while the UI mounts, not after.
if (/^#v\d+\./.test(location.hash)) void loadNode()

mount(App, { target: document.getElementById('app') as HTMLElement })

// The app shell service worker (web/public/sw.js) lets a room open from this
// device with the relay down. Registered after load, once the main thread is
// idle (a big room's catch-up keeps it busy for seconds: starting the worker
// and fetching the shell then took ~100 ms from it), so it never competes
// with joining the room; only in builds (the dev server serves no sw.js).
if (import.meta.env.PROD && 'serviceWorker' in navigator && isSecureContext) {
  const register = (): void => {
    navigator.serviceWorker.register('/sw.js').catch((err: unknown) => { console.warn('roomkv: no offline app shell:', err) })
  }
  addEventListener('load', () => {
    setTimeout(() => {
      if ('requestIdleCallback' in globalThis) requestIdleCallback(register, { timeout: 30_000 })
      else register()
    }, 2000)
  }, { once: true })
}
