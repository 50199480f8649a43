// Browser side of examples/pipecat_bot.py: offer WebRTC to /api/offer and play the avatar.
// While connected it also records, on the page's performance clock, each received video frame's
// display time and each block of received sound's loudness (window.marionetteAV), and, when the
// page is given a mouth mask (window.marionetteMouth, set by tests), how open the mouth is on
// each frame, judged on pixels. tests/test_pipecat_webrtc.py reads them to measure the A/V offset.
"use strict";
window.marionetteAV = { video: [], audio: [], connected: false, tracks: [] };

function startMeasuring(video, stream) {
  const av = window.marionetteAV;
  const canvas = document.createElement("canvas");
  canvas.width = 512; canvas.height = 512;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  const onFrame = (now, meta) => {
    const m = window.marionetteMouth;
    let open = null;
    if (m) {
      g.drawImage(video, 0, 0, canvas.width, canvas.height);
      const [x0, y0, w, h] = m.box;
      const px = g.getImageData(x0, y0, w, h).data;
      let below = 0;
      for (const i of m.index) {  // indices into the box, row-major
        const luma = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
        below += Math.max(m.level - luma, 0);
      }
      open = (below / m.index.length - m.rest) / m.full;
    }
    if (av.video.length < 20000) av.video.push([meta.expectedDisplayTime || now, open]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  const tracks = stream.getAudioTracks();
  if (!tracks.length) return;
  const ctx = new AudioContext();
  ctx.resume();
  const src = ctx.createMediaStreamSource(new MediaStream(tracks));
  const proc = ctx.createScriptProcessor(512, 1, 1);
  const mute = ctx.createGain();
  mute.gain.value = 0;
  proc.onaudioprocess = (e) => {
    const x = e.inputBuffer.getChannelData(0);
    const now = performance.now();
    const sub = 128, dt = 1000 * sub / e.inputBuffer.sampleRate;
    for (let k = 0; k < x.length / sub; k++) {
      let s = 0;
      for (let i = k * sub; i < (k + 1) * sub; i++) s += x[i] * x[i];
      // the block ends about now: its k-th quarter was received (x.length/sub - k - 0.5) quarters ago
      const t = now - (x.length / sub - k - 0.5) * dt;
      if (av.audio.length < 200000) av.audio.push([t, Math.sqrt(s / sub)]);
    }
  };
  src.connect(proc); proc.connect(mute); mute.connect(ctx.destination);
}

async function connect() {
  const state = document.getElementById("state");
  const video = document.getElementById("avatar");
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.marionettePC = pc;
  // Pipecat's SmallWebRTC expects the audio, video and screen transceivers in this order.
  pc.addTransceiver("audio", { direction: "sendrecv" });
  pc.addTransceiver("video", { direction: "sendrecv" });
  pc.addTransceiver("video", { direction: "sendrecv" });
  pc.createDataChannel("chat");
  const stream = new MediaStream();
  let measuring = false;
  pc.ontrack = (e) => {
    stream.addTrack(e.track);
    window.marionetteAV.tracks.push(e.track.kind);
    video.srcObject = stream;
    if (stream.getVideoTracks().length && stream.getAudioTracks().length && !measuring) {
      measuring = true;
      startMeasuring(video, stream);
    }
  };
  pc.onconnectionstatechange = () => {
    state.textContent = pc.connectionState;
    window.marionetteAV.connected = pc.connectionState === "connected";
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {  // non-trickle: send the offer with every candidate in it
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 2000);
  });
  const r = await fetch("/api/offer", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  const answer = await r.json();
  await pc.setRemoteDescription(answer);
  video.play().catch(() => {});
}

document.getElementById("start").onclick = () => connect().catch((e) => {
  document.getElementById("state").textContent = "failed: " + e;
});
