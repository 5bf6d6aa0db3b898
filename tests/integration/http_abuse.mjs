// Clients that misbehave, for test_http_errors.sh. usage:
//   node http_abuse.mjs PORT disconnect N   N streams over HTTP/1.1 and N over HTTP/2
//                                           (in batches of 100), each dropped or reset
//                                           after its first SSE event
//   node http_abuse.mjs PORT raw HEX|TEXT   send bytes, print what comes back until close
//   node http_abuse.mjs PORT h2stall        an HTTP/2 body that never ends; prints seconds to close
import net from "node:net";
import http2 from "node:http2";

const [port, mode, arg] = process.argv.slice(2);
const body = JSON.stringify({ prompt: "hello", max_tokens: 200, stream: true, ignore_eos: true });
const deadline = (ms, what) => setTimeout(() => { console.error(`timeout: ${what}`); process.exit(2); }, ms);

function h1Drop() {
  return new Promise((resolve, reject) => {
    const s = net.connect(+port, "127.0.0.1", () => {
      s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    let got = "";
    s.on("data", (d) => {
      got += d;
      if (got.includes("data: {")) { s.destroy(); resolve(); }
    });
    s.on("error", reject);
    s.on("close", () => (got.includes("data: {") ? resolve() : reject(new Error("closed before data: " + got))));
  });
}

function h2Reset(session) {
  return new Promise((resolve, reject) => {
    const st = session.request({ ":method": "POST", ":path": "/v1/completions", "content-type": "application/json" });
    st.end(body);
    st.on("data", () => { st.close(http2.constants.NGHTTP2_CANCEL); resolve(); });
    st.on("error", reject);
  });
}

if (mode === "disconnect") {
  deadline(120000, "disconnect");
  const n = +arg;
  for (let done = 0; done < n; done += 100) {
    const k = Math.min(100, n - done);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const all = [];
    for (let i = 0; i < k; i++) all.push(h1Drop(), h2Reset(session));
    await Promise.all(all);
    session.close();
  }
  console.log(`dropped ${n} HTTP/1.1 and reset ${n} HTTP/2 streams`);
  process.exit(0);
}

if (mode === "raw") {
  deadline(15000, "raw");
  const data = /^[0-9a-f]+$/i.test(arg) ? Buffer.from(arg, "hex") : Buffer.from(arg.replace(/\\r\\n/g, "\r\n"));
  const s = net.connect(+port, "127.0.0.1", () => s.write(data));
  const got = [];
  s.on("data", (d) => got.push(d));
  s.on("error", () => {});
  s.on("close", () => { process.stdout.write(Buffer.concat(got).toString("latin1")); process.exit(0); });
  if (process.argv[5] === "half") setTimeout(() => s.end(), 200); // truncated: send, then close our side
}

// An HTTP/2 request whose body never ends: the server must close the
// connection after its slow-client timeout. Prints the seconds it took.
if (mode === "h2stall") {
  deadline(30000, "h2stall");
  const t0 = Date.now();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const st = session.request({ ":method": "POST", ":path": "/v1/completions", "content-type": "application/json" });
  st.on("error", () => {});
  st.write('{"prompt":');
  session.on("close", () => { console.log(((Date.now() - t0) / 1000).toFixed(1)); process.exit(0); });
}
