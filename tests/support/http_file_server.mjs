// http_file_server.mjs: a small HTTP server for the `smolbot pull` tests.
//
//   node http_file_server.mjs --file PATH --log LOG
//
// Listens on 127.0.0.1 at a free port and prints the port on stdout.
// Serves the one file PATH under any name, with behaviour chosen by the
// URL path (NAME is whatever the client should save it as):
//
//   /full/NAME          the file, honouring Range (206 + Content-Range)
//   /cut/N/NAME         the same, but drops the connection after N body
//                       bytes of each response (Content-Length announces all)
//   /norange/NAME       ignores Range: always 200 with the whole file
//   /wrong/NAME         Range honoured, but every byte is flipped
//   /hf/NAME            302 to /full/NAME with Hugging Face's X-Linked-Etag
//                       (the true SHA-256) and X-Linked-Size headers
//   /hfbad/NAME         the same headers, redirecting to /wrong/NAME
//   /<org>/<repo>/resolve/<rev>/NAME   the file (a stand-in for huggingface.co)
//   anything else       404
//
// Every request is appended to LOG as one JSON line: {method, path, range}.
import { createHash } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const file = opt("--file");
const log = opt("--log");
if (!file || !log) {
  console.error("usage: http_file_server.mjs --file PATH --log LOG");
  process.exit(2);
}
const data = readFileSync(file);
const flipped = Buffer.from(data.map((b) => b ^ 0xff));
const sha = createHash("sha256").update(data).digest("hex");

// [start, end] (inclusive) of a "bytes=a-" or "bytes=a-b" header, null
// for none, or "bad" when it cannot be satisfied.
function parseRange(h, size) {
  if (!h) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(h);
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start >= size || end < start ? "bad" : [start, end];
}

function send(req, res, body, { ranges = true, cutAfter = Infinity } = {}) {
  const range = ranges ? parseRange(req.headers.range, body.length) : null;
  if (range === "bad") {
    res.writeHead(416, { "Content-Range": `bytes */${body.length}` });
    return res.end();
  }
  const [start, end] = range || [0, body.length - 1];
  const headers = { "Content-Length": end - start + 1, "Accept-Ranges": "bytes" };
  if (range) headers["Content-Range"] = `bytes ${start}-${end}/${body.length}`;
  res.writeHead(range ? 206 : 200, headers);
  const slice = body.subarray(start, end + 1);
  if (cutAfter < slice.length) {
    // Send part, then drop the connection without finishing.
    res.write(slice.subarray(0, cutAfter), () => res.socket.destroy());
  } else {
    res.end(slice);
  }
}

const server = createServer((req, res) => {
  appendFileSync(log, JSON.stringify({ method: req.method, path: req.url,
                                       range: req.headers.range || null }) + "\n");
  const parts = req.url.split("?")[0].split("/").filter((s) => s.length);
  const mode = parts[0];
  if (mode === "full" && parts.length === 2) return send(req, res, data);
  if (mode === "cut" && parts.length === 3) return send(req, res, data, { cutAfter: Number(parts[1]) });
  if (mode === "norange" && parts.length === 2) return send(req, res, data, { ranges: false });
  if (mode === "wrong" && parts.length === 2) return send(req, res, flipped);
  if ((mode === "hf" || mode === "hfbad") && parts.length === 2) {
    res.writeHead(302, {
      Location: `/${mode === "hf" ? "full" : "wrong"}/${parts[1]}`,
      "X-Linked-Etag": `"${sha}"`,
      "X-Linked-Size": String(data.length),
    });
    return res.end();
  }
  if (parts.length === 5 && parts[2] === "resolve") return send(req, res, data);
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found\n");
});

server.listen(0, "127.0.0.1", () => {
  console.log(server.address().port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
