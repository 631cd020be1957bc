// The browser's SIP phone: JsSIP registered over the server's SIP WebSocket
// (RFC 7118) with the login's extension and password, one call at a time,
// audio through the server's WebRTC gateway. The page drives it through
// this small interface and hears back through `onChange`.
//
// Hold and transfer go through the API (the server holds the caller and
// plays music); the browser's own media never renegotiates. Keys are sent
// in-band (RFC 4733) so the server's relay carries them to the caller's side.

import JsSIP from "../vendor/jssip/jssip.esm.js";

/** The SIP WebSocket URL from `GET /api/phone`'s listen list, on the host this page came from when the server listens on a wildcard. */
export function sipSocketUrl(listen) {
  // A page served over HTTPS may only open wss:// (the browser blocks
  // mixed content); over HTTP either will do, ws:// first.
  const pick = (scheme) => listen.find((l) => l.startsWith(`${scheme}://`));
  const ws = location.protocol === "https:" ? pick("wss") : pick("ws") || pick("wss");
  if (!ws) return null;
  const url = new URL(ws);
  // A certificate names the host the page came from, not the bound address.
  if (url.hostname === "0.0.0.0" || url.hostname === "[::]" || url.protocol === "wss:") {
    url.hostname = location.hostname;
  }
  return url.href.replace(/\/$/, "");
}

export class Phone {
  /**
   * `settings`: `GET /api/phone`'s answer; `password`: the login's.
   * `onChange(phone)` is called whenever anything the page shows changes.
   */
  constructor(settings, password, onChange) {
    this.onChange = onChange;
    this.state = "registering"; // registered | unregistered | failed
    this.problem = "";
    this.call = null; // { id, caller, state: ringing|calling|talking|ended, since, muted, session }
    this.mic = ""; // a deviceId, or "" for the default
    this.speaker = "";
    this.audio = new Audio();
    this.audio.autoplay = true;
    const url = sipSocketUrl(settings.listen);
    if (!url) {
      this.state = "failed";
      this.problem = "the server has no SIP WebSocket listener (ws://)";
      return;
    }
    this.domain = settings.domain;
    const socket = new JsSIP.WebSocketInterface(url);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${settings.extension}@${settings.domain}`,
      password,
      register: true,
      register_expires: settings.register_expires,
      session_timers: false,
      user_agent: "Careline browser phone",
    });
    this.ua.on("registered", () => this.set("registered", ""));
    this.ua.on("unregistered", () => this.set("unregistered", ""));
    this.ua.on("registrationFailed", (e) => this.set("failed", e.cause || "registration failed"));
    this.ua.on("disconnected", () => this.set("unregistered", "the SIP WebSocket closed; reconnecting"));
    this.ua.on("newRTCSession", (e) => this.incoming(e));
    this.ua.start();
  }

  set(state, problem) {
    this.state = state;
    this.problem = problem;
    this.onChange(this);
  }

  incoming(e) {
    if (e.originator !== "remote") return;
    const session = e.session;
    if (this.call && this.call.state !== "ended") {
      session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    const id = e.request.getHeader("X-Careline-Call") || "";
    const caller = e.request.from.uri.user || e.request.from.display_name || "";
    this.call = { id, caller, state: "ringing", since: Date.now(), muted: false, session };
    session.on("accepted", () => this.update({ state: "talking", since: Date.now() }));
    session.on("confirmed", () => this.update({ state: "talking" }));
    session.on("ended", () => this.update({ state: "ended", since: Date.now() }));
    session.on("failed", (ev) => this.update({ state: "ended", since: Date.now(), cause: ev.cause }));
    session.on("peerconnection", (pc) => this.attach(pc.peerconnection));
    this.onChange(this);
  }

  /**
   * Places a call to `number` (a queue's number). False when a call is
   * already on, the phone is not registered, or `number` is not one.
   */
  dial(number) {
    if (!this.ua || this.state !== "registered" || (this.call && this.call.state !== "ended")) return false;
    // Digits, * and #, or a plain SIP user part: anything else is not a number.
    if (!/^[0-9A-Za-z*#+._-]{1,32}$/.test(number)) return false;
    this.call = { id: "", caller: number, state: "calling", since: Date.now(), muted: false, session: null };
    const ended = (ev) => this.update({ state: "ended", since: Date.now(), cause: ev?.cause });
    const failed = (ev) => this.update({ state: "ended", since: Date.now(), cause: ev?.cause, failed: true });
    try {
      this.call.session = this.ua.call(`sip:${number}@${this.domain}`, {
        mediaConstraints: this.constraints(),
        pcConfig: { iceServers: [] },
        eventHandlers: {
          // Fired while the call is being set up, before `call` returns.
          peerconnection: (e) => this.attach(e.peerconnection),
          accepted: () => this.update({ state: "talking", since: Date.now() }),
          ended,
          failed,
        },
      });
    } catch (e) {
      this.call = null;
      this.problem = e.message;
      this.onChange(this);
      return false;
    }
    this.onChange(this);
    return true;
  }

  constraints() {
    return { audio: this.mic ? { deviceId: { exact: this.mic } } : true, video: false };
  }

  update(fields) {
    if (!this.call) return;
    Object.assign(this.call, fields);
    this.onChange(this);
  }

  attach(pc) {
    pc.addEventListener("track", (ev) => {
      this.audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      this.applySpeaker();
    });
  }

  answer() {
    const s = this.call?.session;
    if (!s || this.call.state !== "ringing") return;
    s.answer({
      mediaConstraints: this.constraints(),
      pcConfig: { iceServers: [] },
    });
  }

  hangUp() {
    const s = this.call?.session;
    if (s && !s.isEnded()) s.terminate();
  }

  toggleMute() {
    const s = this.call?.session;
    if (!s || this.call.state !== "talking") return;
    if (this.call.muted) s.unmute({ audio: true });
    else s.mute({ audio: true });
    this.update({ muted: !this.call.muted });
  }

  /** A key to the caller's side, in-band (RFC 4733). */
  key(digit) {
    const s = this.call?.session;
    if (s && this.call.state === "talking") s.sendDTMF(digit, { transportType: "RFC2833", duration: 100 });
  }

  async devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      mics: all.filter((d) => d.kind === "audioinput"),
      speakers: all.filter((d) => d.kind === "audiooutput"),
    };
  }

  chooseSpeaker(id) {
    this.speaker = id;
    this.applySpeaker();
  }

  applySpeaker() {
    if (this.speaker && typeof this.audio.setSinkId === "function") {
      this.audio.setSinkId(this.speaker).catch(() => {});
    }
  }

  /** Packet counts of the call's media, from the browser's own statistics. */
  async stats() {
    const pc = this.call?.session?.connection;
    if (!pc) return null;
    const out = { inbound: 0, outbound: 0, codec: "" };
    const report = await pc.getStats();
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        out.inbound += r.packetsReceived;
        out.codec = report.get(r.codecId)?.mimeType ?? "";
      }
      if (r.type === "outbound-rtp" && r.kind === "audio") out.outbound += r.packetsSent;
    });
    return out;
  }

  stop() {
    this.hangUp();
    this.ua?.stop();
  }
}
