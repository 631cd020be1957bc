// Debian's Chromium, headless, launched the same way for every page test:
// no sandbox (the tests run as a namespace's root), nothing that talks to
// the network by itself. `extra` adds switches a test needs.

import { chromium } from "playwright-core";

export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
      ...extra,
    ],
  });
}
